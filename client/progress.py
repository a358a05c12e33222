"""Progress of a long job: a bar on a terminal, a line every few seconds in a pipe or a log, a
summary line at the end; nothing with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# A pipe or log gets one line this often.
LINE_EVERY_S = 5.0


class Progress:
    def __init__(self, label: str, quiet: bool = False, stream: TextIO | None = None, every_s: float = LINE_EVERY_S):
        self.label = label
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.every_s = every_s
        self._terminal = not quiet and self.stream.isatty()
        self._bar = None
        self._started = time.perf_counter()
        self._last_line = self._started
        self.done = 0
        self.total = 0

    def update(self, done: int, total: int) -> None:
        """done frames of total (0: not known)."""
        self.done, self.total = done, total
        if self.quiet:
            return
        if self._terminal:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total or None, unit="frame", dynamic_ncols=True, desc=self.label, file=self.stream
                )
            self._bar.update(done - self._bar.n)
            return
        now = time.perf_counter()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            print(f"{self.label}: {self._figures(now)}", file=self.stream, flush=True)

    def _figures(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done}/{self.total or '?'} frames, {rate:.1f} frames/s"
        if self.total and rate > 0:
            text += f", ETA {max(0.0, (self.total - self.done) / rate):.0f} s"
        return text

    def close(self, summary: str | None = None) -> None:
        """End the bar; print `summary` (unless quiet)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if summary and not self.quiet:
            print(summary, file=self.stream, flush=True)
