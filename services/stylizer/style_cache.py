"""Encoded styles shared across sessions: many phones pick the same few style photos."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any


def style_key(model: str, work_long_side: int, style_bytes: bytes) -> tuple[str, int, str]:
    """What makes two sessions' style codes identical: the model, its working size, the photo's bytes."""
    return model, work_long_side, hashlib.sha256(style_bytes).hexdigest()


class StyleCache:
    """A bounded least-recently-used map from style_key() to the model's style code (thread-safe)."""

    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            code = self._entries.get(key)
            if code is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return code

    def put(self, key: tuple, code: Any) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = code
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
