"""A token bucket: at most ``rate`` admissions per second, bursts up to ``burst``.

Pure: the caller passes the current time (seconds, any monotonic clock), so the
bucket is tested without sleeping. Tap uses one per observer to sample at most
``max_rps`` requests per second.
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be more than 0, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self.tokens = self.burst
        self.last = now

    def admit(self, now: float) -> bool:
        """Take one token if there is one; refills at ``rate`` per second since the last call."""
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
