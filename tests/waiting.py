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


def wait_for_value(probe, until, timeout: float, interval: float = 0.2):
    """probe()'s value once until(value) holds, polled every `interval` seconds; AssertionError
    naming the last value after `timeout` seconds (a page's state read through page.evaluate)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if until(value):
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out; last value {value!r}")
