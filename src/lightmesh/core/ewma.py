"""Peak-EWMA load: Finagle's latency-aware cost, as Conduit/Linkerd balance with it.

Each endpoint keeps an estimate of its round-trip time. A response slower than
the estimate replaces it at once (the *peak*); faster ones pull it down
exponentially with a time constant of ``decay`` seconds, and so does idle time,
so an endpoint that was slow is probed again eventually. The cost the balancer
compares is ``estimate * (pending + 1)``: latency times the requests already
waiting on it. A new endpoint starts at ``default_rtt``. Times are passed in
(seconds, any monotonic clock), so the arithmetic is tested without a clock.
"""

from __future__ import annotations

from math import exp
from typing import Final

DEFAULT_RTT: Final = 0.030
DEFAULT_DECAY: Final = 10.0


class PeakEwma:
    __slots__ = ("decay", "estimate", "pending", "stamp")

    def __init__(self, now: float, default_rtt: float = DEFAULT_RTT, decay: float = DEFAULT_DECAY) -> None:
        self.estimate = default_rtt
        self.stamp = now
        self.pending = 0
        self.decay = decay

    def cost(self, now: float) -> float:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.estimate *= exp(-elapsed / self.decay)
            self.stamp = now
        return self.estimate * (self.pending + 1)

    def start(self) -> None:
        self.pending += 1

    def finish(self, now: float, rtt: float) -> None:
        """A request that started with :meth:`start` got its answer (or failed) after ``rtt``."""
        self.pending -= 1
        elapsed = now - self.stamp
        if rtt > self.estimate:
            self.estimate = rtt
        elif elapsed > 0:  # else the weight of the old estimate is 1: it stays
            weight = exp(-elapsed / self.decay)
            self.estimate = self.estimate * weight + rtt * (1.0 - weight)
        self.stamp = now
