"""A retry budget: retries may add a share of the traffic, never more (sans-I/O).

As Finagle's and Linkerd's budgets: every original request deposits ``ratio`` of a
retry, and ``min_per_second * ttl`` retries are always in reserve, so a quiet service can
still retry. A retry withdraws one; when the balance is below one, the retry is refused
and the failure goes to the client. Deposits and withdrawals count for ``ttl`` seconds:
the window is cut into ``SLOTS`` slots and the oldest slot is forgotten as time moves,
so the budget follows the recent traffic. The caller passes the time (``now``, seconds
on any monotonic clock), which keeps the logic testable with virtual time.
"""

from __future__ import annotations

from typing import Final

SLOTS: Final = 10


class RetryBudget:
    __slots__ = ("_deposits", "_epoch", "_withdrawals", "min_per_second", "ratio", "reserve", "slot", "ttl")

    def __init__(self, ratio: float = 0.2, min_per_second: float = 10.0, ttl: float = 10.0) -> None:
        if ratio < 0 or min_per_second < 0 or ttl <= 0:
            raise ValueError("retry budget: ratio and min_per_second >= 0, ttl > 0")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.ttl = ttl
        self.reserve = min_per_second * ttl
        self.slot = ttl / SLOTS
        self._deposits = [0] * SLOTS
        self._withdrawals = [0] * SLOTS
        self._epoch = 0  # index of the newest slot, in slots since the clock's zero

    def _advance(self, now: float) -> int:
        epoch = int(now / self.slot)
        gap = epoch - self._epoch
        if gap > 0:
            for k in range(min(gap, SLOTS)):
                i = (self._epoch + 1 + k) % SLOTS
                self._deposits[i] = 0
                self._withdrawals[i] = 0
            self._epoch = epoch
        return self._epoch % SLOTS

    def deposit(self, now: float) -> None:
        """An original request was sent."""
        self._deposits[self._advance(now)] += 1

    def balance(self, now: float) -> float:
        self._advance(now)
        return self.reserve + self.ratio * sum(self._deposits) - sum(self._withdrawals)

    def withdraw(self, now: float) -> bool:
        """Take one retry from the budget; ``False`` (nothing taken) when it is spent."""
        if self.balance(now) < 1.0:
            return False
        self._withdrawals[self._epoch % SLOTS] += 1
        return True
