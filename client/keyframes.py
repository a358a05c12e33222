"""Key-frame selection: which source frames the stylizer sees."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class KeyFrameSelector(Protocol):
    def is_key(self, index: int, rgb: np.ndarray) -> bool:
        """Called once per frame, in order; True makes the frame a key frame."""
        ...


class FixedIntervalSelector:
    """Every `interval`-th frame, starting with the first (interval 1 = every frame)."""

    def __init__(self, interval: int):
        if interval < 1:
            raise ValueError(f"key-frame interval must be at least 1, got {interval}")
        self.interval = interval
        self._since_key: int | None = None

    def is_key(self, index: int, rgb: np.ndarray) -> bool:
        if self._since_key is None or self._since_key + 1 >= self.interval:
            self._since_key = 0
            return True
        self._since_key += 1
        return False
