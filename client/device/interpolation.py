"""The device tier's interpolator: one interface, the core in this process or the service over gRPC."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import numpy as np

from client.media.frames import OutputFrame
from services.interpolator.session import FrameInputs, InterpolationSession

_CLOSE = object()


class InterpolatorBackend:
    """send_key / request_frame from one thread; outputs() from another, in request order."""

    def send_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> None:
        raise NotImplementedError

    def request_frame(self, pts: int, inputs: FrameInputs) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """No more requests; outputs() ends after the last answer."""
        raise NotImplementedError

    def outputs(self) -> Iterator[OutputFrame]:
        raise NotImplementedError

    def cancel(self) -> None:
        self.finish()


class LocalInterpolator(InterpolatorBackend):
    """The same core, in-process: no encoding, no copies over a socket."""

    def __init__(
        self,
        mode: str,
        width: int,
        height: int,
        *,
        max_in_flight: int = 8,
        exact_keys: bool = False,
        output_i420: bool = False,
    ):
        self._session = InterpolationSession(mode, width, height, exact_keys=exact_keys, output_i420=output_i420)
        self._outputs: queue.Queue = queue.Queue(maxsize=max_in_flight)
        self._cancelled = False

    def send_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> None:
        self._session.add_key(index, stylized, original)

    def request_frame(self, pts: int, inputs: FrameInputs) -> None:
        self._put(OutputFrame(inputs.index, pts, self._session.make_frame(inputs), self._session.output_i420))

    def finish(self) -> None:
        self._put(_CLOSE)

    def cancel(self) -> None:
        self._cancelled = True

    def outputs(self) -> Iterator[OutputFrame]:
        while not self._cancelled:
            try:
                item = self._outputs.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _CLOSE:
                return
            yield item

    def _put(self, item: object) -> None:
        while not self._cancelled:
            try:
                self._outputs.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
