"""One stylizer session over a bidirectional stream, driven from ordinary threads."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import grpc
import numpy as np

from mvstylizer_common.auth import with_token
from mvstylizer_common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES, client_channel_options
from mvstylizer_common.imagecodec import DEFAULT_JPEG_QUALITY, JPEG, decode_image, encode_image
from mvstylizer_common.status import RETRY_AFTER_KEY
from mvstylizer_common.tls import ClientTls
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc

log = logging.getLogger(__name__)
_CLOSE = object()


@dataclass
class StylizerOptions:
    model: str = ""  # empty: the server's default
    work_long_side: int = 0  # 0: the model's default
    output_width: int = 0
    output_height: int = 0
    encoding: int = JPEG
    jpeg_quality: int = 0
    max_in_flight: int = 4
    label: str = ""
    strength: float = 1.0  # 0..1: the content's own look .. the full transfer
    style_mask: media_pb2.EncodedImage | None = None  # the style photo's label mask (PNG), if any


def open_channel(
    target: str,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    token: str | None = None,
    tls: ClientTls | None = None,
) -> grpc.Channel:
    """A channel to any gRPC target string (`host:port`, `ipv4:a:p,b:q`, `dns:///name:port`...), with
    round-robin over the addresses it resolves to, the shared message limits, and TLS and a bearer
    token when given."""
    options = client_channel_options(max_message_bytes)
    if tls is None:
        return with_token(grpc.insecure_channel(target, options=options), token)
    if tls.server_name:
        options = [*options, ("grpc.ssl_target_name_override", tls.server_name)]
    return with_token(grpc.secure_channel(target, tls.credentials(), options=options), token)


def wait_for_ready(channel: grpc.Channel, timeout: float) -> None:
    grpc.channel_ready_future(channel).result(timeout=timeout)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a session survives a lost stream: it opens a new one (on another replica when the
    target names several), re-sends its config and every key frame not yet answered."""

    timeout_s: float = 30.0  # give up when no stream could be opened for this long
    first_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    # Live video has no use for stale key frames: False forgets them instead of re-sending them.
    resend_unanswered: bool = True


def retry_delay(error: grpc.RpcError) -> float | None:
    """Seconds to wait before retrying after `error`, or None when retrying cannot help."""
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:  # server gone, restarting or draining
        return 0.0
    hint = dict(error.trailing_metadata() or ()).get(RETRY_AFTER_KEY)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and hint is not None:  # busy, not too big
        return int(hint) / 1e3
    return None


class StylizerSession:
    """Sends key frames, receives stylized key frames by index.

    `submit` blocks while `max_in_flight` key frames await an answer (backpressure);
    `result` blocks until the stylized frame for an index has arrived. When the stream
    breaks in a way a retry can mend (UNAVAILABLE, or a busy server's RESOURCE_EXHAUSTED),
    a new stream is opened on the same channel (gRPC's round-robin picks a live replica),
    with the config and the unanswered key frames sent again, in order.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        style: media_pb2.EncodedImage,
        options: StylizerOptions,
        reconnect: ReconnectPolicy | None = None,
    ):
        self.options = options
        self.reconnect = reconnect or ReconnectPolicy()
        self.reconnects = 0
        self.connected = False  # a stream is open (False while reconnecting)
        self.abandoned: list[int] = []  # key frames given up on at a reconnection (resend_unanswered=False)
        self._stub = stylizer_pb2_grpc.StylizerStub(channel)
        self._channel = channel
        self._slots = threading.Semaphore(options.max_in_flight)
        self._results: dict[int, np.ndarray] = {}
        self._unanswered: dict[int, stylizer_pb2.StylizeRequest] = {}  # in sending order
        self._timings: list[float] = []
        self._error: BaseException | None = None
        self._done = False
        self._closing = False
        self._cancelled = False
        self._cond = threading.Condition()
        self._config = stylizer_pb2.StylizeRequest(
            config=stylizer_pb2.SessionConfig(
                style=style,
                model=options.model,
                work_long_side=options.work_long_side,
                output_width=options.output_width,
                output_height=options.output_height,
                response_encoding=options.encoding,
                jpeg_quality=options.jpeg_quality,
                client_label=options.label,
                strength=options.strength,
                style_mask=options.style_mask,
            )
        )
        self._requests: queue.Queue = queue.Queue()
        self._call, self.ready = self._open_with_retries(wait_ready=False)
        self.connected = True
        self._receiver = threading.Thread(target=self._receive, name="stylizer-recv", daemon=True)
        self._receiver.start()

    def submit(self, index: int, pts: int, rgb: np.ndarray, mask: media_pb2.EncodedImage | None = None) -> None:
        """mask: the frame's label mask (PNG), for a session opened with a style mask."""
        while not self._slots.acquire(timeout=0.2):
            self._raise_if_failed()
        self._raise_if_failed()
        request = self._key_frame(index, pts, rgb)
        if mask is not None:
            request.key_frame.mask.CopyFrom(mask)
        with self._cond:
            self._unanswered[index] = request
            self._requests.put(request)

    def try_submit(self, index: int, pts: int, rgb: np.ndarray) -> bool:
        """submit() without waiting: False (nothing sent) when max_in_flight key frames are unanswered
        or the stream is down."""
        if not self.connected or self._error is not None or self._done or not self._slots.acquire(blocking=False):
            return False
        request = self._key_frame(index, pts, rgb)
        with self._cond:
            self._unanswered[index] = request
            self._requests.put(request)
        return True

    def _key_frame(self, index: int, pts: int, rgb: np.ndarray) -> stylizer_pb2.StylizeRequest:
        image = encode_image(rgb, self.options.encoding, self.options.jpeg_quality or DEFAULT_JPEG_QUALITY)
        return stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=pts, image=image))

    def take_results(self) -> list[tuple[int, np.ndarray]]:
        """Every stylized key frame arrived and not yet taken, oldest first."""
        with self._cond:
            taken = sorted(self._results.items())
            self._results.clear()
            return taken

    @property
    def failed(self) -> BaseException | None:
        """The error that ended the session for good, if any."""
        return self._error

    def result(self, index: int, timeout: float | None = None) -> np.ndarray:
        """The stylized key frame `index` (removed from the session once taken)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: index in self._results or self._error is not None or self._done, timeout)
            if index in self._results:
                return self._results.pop(index)
            if self._error is not None:
                raise self._error
            if not ok:
                raise TimeoutError(f"stylized key frame {index} did not arrive in {timeout}s")
            raise RuntimeError(f"stylizer stream ended without key frame {index}")

    @property
    def server_ms(self) -> list[float]:
        """Server-side total time of each answered key frame."""
        return list(self._timings)

    def close(self) -> None:
        """Half-close the stream and wait for outstanding answers."""
        with self._cond:
            self._closing = True
            self._requests.put(_CLOSE)
        self._receiver.join()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._requests.put(_CLOSE)
        self._call.cancel()

    def _open_stream(self):
        """A new stream carrying the config, then every unanswered key frame; its SessionReady."""
        with self._cond:
            self._requests.put(_CLOSE)  # ends the previous stream's request iterator, if any
            requests: queue.Queue = queue.Queue()
            requests.put(self._config)
            if not self.reconnect.resend_unanswered:
                self.abandoned.extend(self._unanswered)
                for _ in self._unanswered:
                    self._slots.release()
                self._unanswered.clear()
            for request in self._unanswered.values():
                requests.put(request)
            if self._closing or self._cancelled:
                requests.put(_CLOSE)
            self._requests = requests
        call = self._stub.Stylize(_drain(requests), wait_for_ready=True)
        try:
            first = next(call)
        except grpc.RpcError:
            requests.put(_CLOSE)
            raise
        if first.WhichOneof("kind") != "ready":
            call.cancel()
            raise RuntimeError("stylizer did not answer the session config with SessionReady")
        return call, first.ready

    def _open_with_retries(self, wait_ready: bool = True):
        deadline = time.monotonic() + self.reconnect.timeout_s
        backoff = self.reconnect.first_backoff_s
        while True:
            try:
                if wait_ready:
                    left = deadline - time.monotonic()
                    grpc.channel_ready_future(self._channel).result(timeout=max(left, 0.0))
                return self._open_stream()
            except grpc.FutureTimeoutError:
                raise StylizerUnreachableError(f"no stylizer reachable for {self.reconnect.timeout_s:g}s") from None
            except grpc.RpcError as error:
                delay = retry_delay(error)
                if delay is None or self._cancelled or time.monotonic() + delay > deadline:
                    raise StylizerStreamError(error) from None
                log.info("stylizer stream could not open (%s); retrying", error.code().name)
                time.sleep(max(delay, backoff))
                backoff = min(backoff * 2, self.reconnect.max_backoff_s)

    def _receive(self) -> None:
        try:
            while True:
                try:
                    for response in self._call:
                        frame = response.key_frame
                        rgb = decode_image(frame.image)
                        with self._cond:
                            if self._unanswered.pop(frame.index, None) is None:
                                continue  # answered already, before a reconnection
                            self._results[frame.index] = rgb
                            self._timings.append(frame.timings.total_ms)
                            self._cond.notify_all()
                        self._slots.release()
                    return
                except grpc.RpcError as error:
                    if self._cancelled or retry_delay(error) is None:
                        raise
                    log.warning(
                        "stylizer stream lost (%s: %s); reconnecting (%d unanswered key frames %s)",
                        error.code().name,
                        error.details(),
                        len(self._unanswered),
                        "to send again" if self.reconnect.resend_unanswered else "given up",
                    )
                    self.connected = False
                    time.sleep(retry_delay(error))
                    self._call, self.ready = self._open_with_retries()
                    self.connected = True
                    self.reconnects += 1
        except grpc.RpcError as error:
            with self._cond:
                self._error = StylizerStreamError(error)
                self._cond.notify_all()
        except Exception as error:  # a failed reconnection, a bad answer
            with self._cond:
                self._error = error
                self._cond.notify_all()
        finally:
            self.connected = False
            with self._cond:
                self._done = True
                self._cond.notify_all()
            # Unblock a producer waiting for a slot that will never free up.
            self._slots.release()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
        if self._done:
            raise RuntimeError("stylizer stream has ended")


def _drain(requests: queue.Queue):
    while (item := requests.get()) is not _CLOSE:
        yield item


class StylizerUnreachableError(ConnectionError):
    """No stylizer could be reached within the reconnection timeout."""


class StylizerStreamError(RuntimeError):
    """The stylizer ended the stream with an error status."""

    def __init__(self, error: grpc.RpcError):
        self.code = error.code()
        super().__init__(f"stylizer: {self.code.name}: {error.details()}")
