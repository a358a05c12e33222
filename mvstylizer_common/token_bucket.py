"""A token bucket: what a client may send, on average and at once."""

from __future__ import annotations


class TokenBucket:
    """`rate` takes a second on average, in bursts of up to `capacity`; full at `now`."""

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = now

    def take(self, now: float) -> bool:
        """Whether one more take is within the rate at time `now` (and count it if so)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
