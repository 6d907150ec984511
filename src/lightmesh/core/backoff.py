"""Exponential backoff with jitter, for clients that reconnect or retry forever.

Each :meth:`Backoff.next` returns a wait drawn uniformly from half to all of the
current delay, then doubles the delay up to ``cap``; :meth:`Backoff.reset` goes back
to ``first`` after a success. Jitter keeps many proxies that lost the same
controller from reconnecting in step. Randomness is injectable for tests.
"""

from __future__ import annotations

import random


class Backoff:
    __slots__ = ("_rng", "cap", "delay", "first")

    def __init__(self, first: float, cap: float, rng: random.Random | None = None) -> None:
        self.first = first
        self.cap = cap
        self.delay = first
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The wait before the next attempt (in ``[delay / 2, delay]``); doubles the delay."""
        wait = self.delay * self._rng.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, self.cap)
        return wait

    def reset(self) -> None:
        self.delay = self.first
