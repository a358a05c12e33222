"""The interpolator service over one bidirectional stream, behind the device tier's interface."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc
import numpy as np

from client.device.interpolation import InterpolatorBackend
from client.media.frames import OutputFrame
from mvstylizer_common.flowcodec import encode_confidence, encode_flow
from mvstylizer_common.imagecodec import DEFAULT_JPEG_QUALITY, JPEG, decode_image, encode_image
from protos.mvstylizer.v1 import interpolator_pb2, interpolator_pb2_grpc
from services.interpolator.session import LIVE, OFFLINE, FrameInputs

_CLOSE = object()
_MODE_TO_PROTO = {OFFLINE: interpolator_pb2.INTERPOLATION_MODE_OFFLINE, LIVE: interpolator_pb2.INTERPOLATION_MODE_LIVE}


class GrpcInterpolator(InterpolatorBackend):
    """The interpolator service over one bidirectional stream."""

    def __init__(
        self,
        channel: grpc.Channel,
        mode: str,
        width: int,
        height: int,
        *,
        encoding: int = JPEG,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        max_in_flight: int = 8,
        exact_keys: bool = False,
    ):
        self._encoding = encoding
        self._quality = jpeg_quality
        self._requests: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(max_in_flight)
        self._cancelled = False
        config = interpolator_pb2.InterpolatorConfig(
            mode=_MODE_TO_PROTO[mode],
            width=width,
            height=height,
            output_encoding=encoding,
            jpeg_quality=jpeg_quality,
            exact_keys=exact_keys,
        )
        self._requests.put(interpolator_pb2.InterpolateRequest(config=config))
        self._call = interpolator_pb2_grpc.InterpolatorStub(channel).Interpolate(self._request_stream())

    def send_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> None:
        key = interpolator_pb2.StylizedKey(index=index, stylized=encode_image(stylized, self._encoding, self._quality))
        if original is not None:
            key.original.CopyFrom(encode_image(original, self._encoding, self._quality))
        self._requests.put(interpolator_pb2.InterpolateRequest(key=key))

    def request_frame(self, pts: int, inputs: FrameInputs) -> None:
        request = interpolator_pb2.FrameRequest(index=inputs.index, pts=pts, prev_key=inputs.prev_key)
        if inputs.next_key is not None:
            request.next_key = inputs.next_key
        for name, flow in (("flow_to_prev", inputs.flow_to_prev), ("flow_to_next", inputs.flow_to_next)):
            if flow is not None:
                if inputs.frame_size is None:
                    raise ValueError("frame inputs carry flow but no frame_size")
                getattr(request, name).CopyFrom(encode_flow(flow, *inputs.frame_size))
        for name, conf in (("confidence_prev", inputs.confidence_prev), ("confidence_next", inputs.confidence_next)):
            if conf is not None:
                getattr(request, name).CopyFrom(encode_confidence(conf))
        if inputs.original is not None:
            request.original.CopyFrom(encode_image(inputs.original, self._encoding, self._quality))
        while not self._slots.acquire(timeout=0.2):
            if self._cancelled:
                raise RuntimeError("interpolator stream was cancelled")
        self._requests.put(interpolator_pb2.InterpolateRequest(frame=request))

    def finish(self) -> None:
        self._requests.put(_CLOSE)

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()
        self._requests.put(_CLOSE)

    def outputs(self) -> Iterator[OutputFrame]:
        try:
            for response in self._call:
                frame = response.frame
                self._slots.release()
                yield OutputFrame(frame.index, frame.pts, decode_image(frame.image))
        finally:
            # A producer blocked on a slot must not wait for answers that will never come.
            self._slots.release()

    def _request_stream(self):
        while (item := self._requests.get()) is not _CLOSE:
            yield item
