"""Polling for a condition in tests that watch processes or threads from outside."""

from __future__ import annotations

import time


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    """True once condition() is, polled every `interval` seconds; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
