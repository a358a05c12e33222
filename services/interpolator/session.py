"""One interpolation stream's state: held key frames and ordering rules. No gRPC."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from common.errors import InvalidInputError, LimitExceededError
from services.interpolator.core import FlowToKey, HeldKey, key_output, prepare_key, synthesize_frame
from services.interpolator.grids import grid_size

OFFLINE = "offline"
LIVE = "live"
# Offline needs two keys; a few more let a client send keys ahead of their frames.
DEFAULT_MAX_HELD_KEYS = 8
# Long side of the grid the colour maps live on (they are smooth; the frame supplies detail).
DEFAULT_MAP_LONG_SIDE = 320


@dataclass
class FrameInputs:
    """What one intermediate frame needs, already decoded."""

    index: int
    prev_key: int
    next_key: int | None = None
    flow_to_prev: np.ndarray | None = None
    confidence_prev: np.ndarray | None = None
    flow_to_next: np.ndarray | None = None
    confidence_next: np.ndarray | None = None
    original: np.ndarray | None = None
    # (width, height) of the frame whose pixels the flows are measured in.
    frame_size: tuple[int, int] | None = None
    # The original at the map grid's size, when the caller has it (in-process: the flow's own).
    small: np.ndarray | None = None


class InterpolationSession:
    """Holds stylized key frames and turns frame requests into stylized frames, in order."""

    def __init__(
        self,
        mode: str,
        width: int,
        height: int,
        max_held_keys: int = DEFAULT_MAX_HELD_KEYS,
        map_long_side: int = DEFAULT_MAP_LONG_SIDE,
        exact_keys: bool = False,
        output_i420: bool = False,
    ):
        if mode not in (OFFLINE, LIVE):
            raise InvalidInputError(f"unknown mode {mode!r}")
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"bad output size {width}x{height}")
        self.mode = mode
        self.width = width
        self.height = height
        self.max_held_keys = max_held_keys
        self.grid = grid_size(width, height, map_long_side)
        # Frame-by-frame runs: keys are output as stylized, and no maps are fitted.
        self.exact_keys = exact_keys
        # Frames come out as I420 ((H*3/2) x W), the layout H.264 encoders take, instead of RGB.
        if output_i420 and (exact_keys or width % 2 or height % 2):
            raise InvalidInputError("I420 output needs an even frame size and colour maps (not exact keys)")
        self.output_i420 = output_i420
        self._keys: dict[int, HeldKey] = {}
        self._last_index = -1

    def add_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> None:
        """Hold a key frame: its original (resized to the output size if needed) and its stylization (any size)."""
        if index in self._keys:
            raise InvalidInputError(f"key frame {index} sent twice")
        if index <= self._last_index:
            raise InvalidInputError(f"key frame {index} is older than frame {self._last_index} already made")
        if len(self._keys) >= self.max_held_keys:
            raise LimitExceededError(f"more than {self.max_held_keys} key frames held")
        if self.exact_keys:
            self._keys[index] = HeldKey(index, self._fit(stylized), None, None)
            return
        if original is None:
            raise InvalidInputError(f"key frame {index} has no original frame")
        # The stylized key is used only on the map grid: it may come at any (smaller) size.
        self._keys[index] = prepare_key(index, self._fit(original), stylized, self.grid)

    def make_frame(self, inputs: FrameInputs) -> np.ndarray:
        """Produce the stylized frame for inputs.index: HxWx3 uint8 RGB at the output size, or I420."""
        index = inputs.index
        if index <= self._last_index:
            raise InvalidInputError(f"frame {index} requested after frame {self._last_index}")
        prev = self._held(inputs.prev_key, "prev_key")
        if inputs.prev_key > index:
            raise InvalidInputError(f"prev_key {inputs.prev_key} is after frame {index}")
        next_key = None
        if inputs.next_key is not None:
            if self.mode == LIVE:
                raise InvalidInputError("live mode does not use a next key")
            if inputs.next_key <= index:
                raise InvalidInputError(f"next_key {inputs.next_key} is not after frame {index}")
            next_key = self._held(inputs.next_key, "next_key")

        if index == prev.index:
            frame = prev.original if self.exact_keys else key_output(prev, self.output_i420)
        elif self.exact_keys:
            raise InvalidInputError("a stream with exact_keys carries key frames only")
        else:
            if inputs.original is None:
                raise InvalidInputError(f"frame {index} has no original frame")
            if inputs.flow_to_prev is None:
                raise InvalidInputError(f"frame {index} has no flow to its key frame")
            prev_link = FlowToKey(prev, self._to_output_pixels(inputs.flow_to_prev, inputs), inputs.confidence_prev)
            next_link = None
            if next_key is not None:
                if inputs.flow_to_next is None:
                    raise InvalidInputError(f"frame {index} has no flow to its next key frame")
                next_link = FlowToKey(
                    next_key, self._to_output_pixels(inputs.flow_to_next, inputs), inputs.confidence_next
                )
            original = self._fit(inputs.original)
            small = inputs.small if original is inputs.original else None
            frame = synthesize_frame(index, prev_link, next_link, original, small, self.output_i420)

        self._last_index = index
        # Keys older than the one this frame used are never needed again.
        for old in [k for k in self._keys if k < prev.index]:
            del self._keys[old]
        return frame

    @property
    def held_keys(self) -> list[int]:
        return sorted(self._keys)

    def _held(self, index: int, role: str) -> HeldKey:
        key = self._keys.get(index)
        if key is None:
            raise InvalidInputError(f"{role} {index} is not a key frame held by this stream")
        return key

    def _to_output_pixels(self, flow: np.ndarray, inputs: FrameInputs) -> np.ndarray:
        """Rescale flow values from the measured frame's pixels to output pixels."""
        if inputs.frame_size is None or inputs.frame_size == (self.width, self.height):
            return flow
        frame_w, frame_h = inputs.frame_size
        return flow * np.array([self.width / frame_w, self.height / frame_h], dtype=np.float32)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] == (self.height, self.width):
            return image
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
