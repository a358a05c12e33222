"""A bounded series for live statistics: the recent samples for percentiles, exact totals for the rest.

A live run may last days: its statistics keep a fixed number of samples (a ring buffer), so their
memory and the cost of a percentile stay the same however long it runs, while the count and the
largest value seen stay exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class RecentWindow:
    """The last `size` values appended (floats), with the exact count and maximum of all of them.

    Appended from one thread; read from any (a reader may see the newest value or the one before)."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"window size {size}: expected at least 1")
        self.size = size
        self.count = 0  # every value ever appended
        self.peak: float | None = None  # the largest value ever appended
        self._values = np.zeros(size, np.float64)

    def append(self, value: float) -> None:
        self._values[self.count % self.size] = value
        self.count += 1
        if self.peak is None or value > self.peak:
            self.peak = value

    def __len__(self) -> int:
        return min(self.count, self.size)

    def values(self) -> np.ndarray:
        """The values kept, oldest first (a copy)."""
        count = self.count
        if count <= self.size:
            return self._values[:count].copy()
        start = count % self.size
        return np.concatenate([self._values[start:], self._values[:start]])

    def recent(self, n: int) -> np.ndarray:
        """The last n values kept (fewer if fewer were appended), oldest first."""
        n = max(0, min(n, len(self)))
        return self._values[(self.count - n + np.arange(n)) % self.size]

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the values kept; None before the first."""
        kept = self._values[: len(self)]
        return float(np.percentile(kept, q)) if len(kept) else None

    def __iter__(self) -> Iterator[float]:
        return iter(self.values().tolist())
