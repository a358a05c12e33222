"""Reaching the services: the options every job shares, and the one way a job starts or finds
them, connects, and gets its channels (the file job, the image job and the live job alike)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from client.remote.embedded import EmbeddedServices
from client.remote.stylizer import StylizerOptions, open_channel, wait_for_ready
from common.imagecodec import ENCODING_BY_NAME
from common.tls import ClientTls

# Run the interpolator in this process (the device tier; the default).
INPROC = "inproc"
# Start an interpolator service on loopback (a separate process, reached over gRPC).
LOOPBACK = "loopback"
CONNECT_TIMEOUT_S = 30.0


@dataclass
class ServiceOptions:
    """Where the services are and how to reach them; the CLI's defaults are these."""

    stylizer: str | None = None  # gRPC target; None starts one on loopback
    interpolator: str | None = INPROC  # gRPC target, INPROC, or None to start one on loopback
    model: str = ""  # empty: the stylizer's default
    work_size: int = 0  # long side the model runs at; 0: the model's default
    device: str = "cpu"  # for an embedded stylizer
    weights: str = ""  # weight file for an embedded stylizer's model (e.g. photo_wct.pth)
    auth_token: str | None = None  # bearer token sent on every call (None: none)
    tls: ClientTls | None = None  # TLS to services given by address (None: plaintext)
    wire_format: str = "jpeg"
    connect_timeout: float = CONNECT_TIMEOUT_S  # seconds to wait for a service to answer

    @property
    def inproc(self) -> bool:
        return self.interpolator == INPROC

    def tls_for(self, given_address: str | None) -> ClientTls | None:
        """TLS applies to services given by address; the ones the client starts itself listen on
        loopback in plaintext."""
        return self.tls if given_address else None

    def stylizer_args(self) -> list[str]:
        extra = ["--device", self.device]
        if self.model:
            extra += ["--model", self.model]
        if self.weights:
            extra += ["--weights", self.weights]
        return extra

    def stylizer_options(self, label: str, **overrides) -> StylizerOptions:
        """A stylizer session's options for this job (frames travel in the wire format unless overridden)."""
        settings = dict(model=self.model, work_long_side=self.work_size, encoding=ENCODING_BY_NAME[self.wire_format])
        return StylizerOptions(**{**settings, "label": label, **overrides})


@dataclass
class Connections:
    stylizer: grpc.Channel
    interpolator: grpc.Channel | None  # None: in process (or not needed)
    interpolator_target: str  # INPROC, or the address reached


def connect(
    target: str,
    what: str,
    timeout: float = CONNECT_TIMEOUT_S,
    token: str | None = None,
    tls: ClientTls | None = None,
) -> grpc.Channel:
    """A channel to `target` that answered within `timeout` seconds (ConnectionError otherwise)."""
    channel = open_channel(target, token=token, tls=tls)
    try:
        wait_for_ready(channel, timeout)
    except grpc.FutureTimeoutError as error:
        channel.close()
        raise ConnectionError(f"{what} at {target} is not reachable") from error
    return channel


@contextmanager
def connected(opts: ServiceOptions, *, interpolator: bool = False, wait: bool = True) -> Iterator[Connections]:
    """Start whichever services were not given an address, connect to them, and close it all after.

    interpolator: the job needs one (a gRPC one unless opts.inproc); wait: block until the stylizer
    answers (live jobs do not: their link reconnects by itself)."""
    grpc_interpolator = interpolator and not opts.inproc
    with EmbeddedServices(
        opts.stylizer, opts.interpolator, opts.stylizer_args(), need_interpolator=grpc_interpolator
    ) as services:
        token, stylizer_tls = opts.auth_token, opts.tls_for(opts.stylizer)
        if wait:
            stylizer = connect(services.stylizer, "stylizer", opts.connect_timeout, token, stylizer_tls)
        else:
            stylizer = open_channel(services.stylizer, token=token, tls=stylizer_tls)
        interpolator_channel = None
        try:
            if grpc_interpolator:
                interpolator_channel = connect(
                    services.interpolator,
                    "interpolator",
                    opts.connect_timeout,
                    token,
                    opts.tls_for(opts.interpolator),
                )
            yield Connections(stylizer, interpolator_channel, services.interpolator if grpc_interpolator else INPROC)
        finally:
            stylizer.close()
            if interpolator_channel is not None:
                interpolator_channel.close()
