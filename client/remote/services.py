"""Reaching the services: the options every job shares, and the one way a job starts or finds
them, connects, and gets its channels (the file job, the image job and the live job alike)."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from client.remote.embedded import EmbeddedServices
from client.remote.stylizer import StylizerOptions, open_channel, wait_for_ready
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import ENCODING_BY_NAME
from mvstylizer_common.tls import ClientTls

log = logging.getLogger(__name__)

# Run the interpolator in this process (the device tier; the default).
INPROC = "inproc"
# Start an interpolator service on loopback (a separate process, reached over gRPC).
LOOPBACK = "loopback"
CONNECT_TIMEOUT_S = 30.0
# A service that has not answered by then is waited for out loud.
SAY_WAITING_AFTER_S = 1.5
# The stylizer refuses working sizes past this (services/stylizer/sessions.MAX_WORK_LONG_SIDE).
MAX_WORK_SIZE = 4096


def in_range(flag: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidInputError(f"{flag} {value}: expected {low}..{high}")


@dataclass
class ServiceOptions:
    """Where the services are and how to reach them; the CLI's defaults are these."""

    stylizer: str | None = None  # gRPC target; None starts one on loopback
    interpolator: str | None = INPROC  # gRPC target, INPROC, or None to start one on loopback
    model: str = ""  # empty: the stylizer's default
    work_size: int = 0  # long side the model runs at; 0: the model's default
    strength: float = 1.0  # 0..1: the content's own look .. the full transfer
    device: str = "cpu"  # for an embedded stylizer
    weights: str = ""  # weight file for an embedded stylizer's model (e.g. photo_wct.pth)
    auth_token: str | None = None  # bearer token sent on every call (None: none)
    tls: ClientTls | None = None  # TLS to services given by address (None: plaintext)
    wire_format: str = "jpeg"
    connect_timeout: float = CONNECT_TIMEOUT_S  # seconds to wait for a service to answer

    def check(self) -> None:
        """InvalidInputError naming the flag, for any setting out of range (before any service starts)."""
        if self.work_size:
            in_range("--work-size", self.work_size, 16, MAX_WORK_SIZE)
        elif self.work_size < 0:
            raise InvalidInputError(
                f"--work-size {self.work_size}: expected 0 (the model's default) or 16..{MAX_WORK_SIZE}"
            )
        # A number (the API may be handed None or a string) in 0..1; the comparison also refuses NaN.
        if (
            isinstance(self.strength, bool)
            or not isinstance(self.strength, numbers.Real)
            or not 0.0 <= self.strength <= 1.0
        ):
            raise InvalidInputError(f"--strength {self.strength!r}: expected a number in 0..1")
        if not self.connect_timeout > 0:
            raise InvalidInputError(f"--connect-timeout {self.connect_timeout}: expected a positive number of seconds")
        if self.wire_format not in ENCODING_BY_NAME:
            raise InvalidInputError(
                f"--wire-format {self.wire_format!r}: expected one of {', '.join(ENCODING_BY_NAME)}"
            )

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
        settings = dict(
            model=self.model,
            work_long_side=self.work_size,
            encoding=ENCODING_BY_NAME[self.wire_format],
            strength=self.strength,
        )
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
    """A channel to `target` that answered within `timeout` seconds (ConnectionError otherwise).
    A wait longer than a moment is said, with what is awaited, instead of passing in silence."""
    channel = open_channel(target, token=token, tls=tls)
    try:
        try:
            wait_for_ready(channel, min(timeout, SAY_WAITING_AFTER_S))
        except grpc.FutureTimeoutError:
            if timeout <= SAY_WAITING_AFTER_S:
                raise
            log.warning(
                "waiting for the %s at %s to answer (up to %g s more; --connect-timeout)",
                what,
                target,
                timeout - SAY_WAITING_AFTER_S,
            )
            wait_for_ready(channel, timeout - SAY_WAITING_AFTER_S)
    except grpc.FutureTimeoutError as error:
        channel.close()
        raise ConnectionError(f"{what} at {target} did not answer within {timeout:g} s") from error
    return channel


@contextmanager
def connected(
    opts: ServiceOptions, *, interpolator: bool = False, wait: bool = True, stylizer_niceness: int = 0
) -> Iterator[Connections]:
    """Start whichever services were not given an address, connect to them, and close it all after.

    interpolator: the job needs one (a gRPC one unless opts.inproc); wait: block until the stylizer
    answers (live jobs do not: their link reconnects by itself); stylizer_niceness: the CPU
    niceness of a stylizer started here (not of one given by address)."""
    grpc_interpolator = interpolator and not opts.inproc
    with EmbeddedServices(
        opts.stylizer,
        opts.interpolator,
        opts.stylizer_args(),
        need_interpolator=grpc_interpolator,
        stylizer_niceness=stylizer_niceness,
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
