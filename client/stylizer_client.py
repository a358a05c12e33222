"""One stylizer session over a bidirectional stream, driven from ordinary threads."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import grpc
import numpy as np

from common.auth import with_token
from common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES, message_size_options
from common.imagecodec import DEFAULT_JPEG_QUALITY, JPEG, decode_image, encode_image
from common.tls import ClientTls
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc

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


def open_channel(
    target: str,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    token: str | None = None,
    tls: ClientTls | None = None,
) -> grpc.Channel:
    """A channel to any gRPC target string, with the shared message limits (TLS and a bearer token
    when given)."""
    options = message_size_options(max_message_bytes)
    if tls is None:
        return with_token(grpc.insecure_channel(target, options=options), token)
    if tls.server_name:
        options = [*options, ("grpc.ssl_target_name_override", tls.server_name)]
    return with_token(grpc.secure_channel(target, tls.credentials(), options=options), token)


def wait_for_ready(channel: grpc.Channel, timeout: float) -> None:
    grpc.channel_ready_future(channel).result(timeout=timeout)


class StylizerSession:
    """Sends key frames, receives stylized key frames by index.

    `submit` blocks while `max_in_flight` key frames await an answer (backpressure);
    `result` blocks until the stylized frame for an index has arrived.
    """

    def __init__(self, channel: grpc.Channel, style: media_pb2.EncodedImage, options: StylizerOptions):
        self.options = options
        self._requests: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(options.max_in_flight)
        self._results: dict[int, np.ndarray] = {}
        self._timings: list[float] = []
        self._error: BaseException | None = None
        self._done = False
        self._cond = threading.Condition()
        stub = stylizer_pb2_grpc.StylizerStub(channel)
        config = stylizer_pb2.SessionConfig(
            style=style,
            model=options.model,
            work_long_side=options.work_long_side,
            output_width=options.output_width,
            output_height=options.output_height,
            response_encoding=options.encoding,
            jpeg_quality=options.jpeg_quality,
            client_label=options.label,
        )
        self._requests.put(stylizer_pb2.StylizeRequest(config=config))
        self._call = stub.Stylize(self._request_stream())
        try:
            first = next(self._call)
        except grpc.RpcError as error:
            self._requests.put(_CLOSE)
            raise StylizerStreamError(error) from None
        if first.WhichOneof("kind") != "ready":
            raise RuntimeError("stylizer did not answer the session config with SessionReady")
        self.ready = first.ready
        self._receiver = threading.Thread(target=self._receive, name="stylizer-recv", daemon=True)
        self._receiver.start()

    def submit(self, index: int, pts: int, rgb: np.ndarray) -> None:
        while not self._slots.acquire(timeout=0.2):
            self._raise_if_failed()
        self._raise_if_failed()
        image = encode_image(rgb, self.options.encoding, self.options.jpeg_quality or DEFAULT_JPEG_QUALITY)
        self._requests.put(
            stylizer_pb2.StylizeRequest(key_frame=stylizer_pb2.KeyFrame(index=index, pts=pts, image=image))
        )

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
        self._requests.put(_CLOSE)
        self._receiver.join()

    def cancel(self) -> None:
        self._call.cancel()
        self._requests.put(_CLOSE)

    def _request_stream(self):
        while (item := self._requests.get()) is not _CLOSE:
            yield item

    def _receive(self) -> None:
        try:
            for response in self._call:
                frame = response.key_frame
                rgb = decode_image(frame.image)
                with self._cond:
                    self._results[frame.index] = rgb
                    self._timings.append(frame.timings.total_ms)
                    self._cond.notify_all()
                self._slots.release()
        except grpc.RpcError as error:
            with self._cond:
                self._error = StylizerStreamError(error)
                self._cond.notify_all()
        finally:
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


class StylizerStreamError(RuntimeError):
    """The stylizer ended the stream with an error status."""

    def __init__(self, error: grpc.RpcError):
        self.code = error.code()
        super().__init__(f"stylizer: {self.code.name}: {error.details()}")
