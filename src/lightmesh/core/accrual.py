"""Failure accrual for one endpoint: eject it after consecutive failures, probe it back (sans-I/O).

Linkerd's ``consecutive`` policy: after ``max_failures`` failures in a row the endpoint
is ejected for a penalty that starts at ``min_penalty`` and doubles at each ejection in
a row up to ``max_penalty``, stretched by up to ``jitter`` of itself at random. When the
penalty ends the endpoint is *probing*: the balancer lets exactly one real request
through (:meth:`FailureAccrual.take_probe`); its success makes the endpoint active again
(and resets the penalty), its failure ejects it again with the next penalty. Time and
randomness are passed in.
"""

from __future__ import annotations

import random
from typing import Final

ACTIVE: Final = "active"
EJECTED: Final = "ejected"
PROBING: Final = "probing"
MAX_FAILURES: Final = 7
MIN_PENALTY: Final = 1.0
MAX_PENALTY: Final = 60.0
JITTER: Final = 0.5


class FailureAccrual:
    __slots__ = ("ejections", "failures", "jitter", "max_failures", "max_penalty", "min_penalty", "probe_out",
                 "rng", "state", "until")  # fmt: skip

    def __init__(
        self,
        rng: random.Random,
        max_failures: int = MAX_FAILURES,
        min_penalty: float = MIN_PENALTY,
        max_penalty: float = MAX_PENALTY,
        jitter: float = JITTER,
    ) -> None:
        self.rng = rng
        self.max_failures = max_failures
        self.min_penalty = min_penalty
        self.max_penalty = max_penalty
        self.jitter = jitter
        self.state = ACTIVE
        self.failures = 0  # consecutive
        self.ejections = 0  # consecutive ejections: the next penalty's exponent
        self.until = 0.0  # when an ejection ends
        self.probe_out = False  # the probe request is in flight

    def penalty(self) -> float:
        """The penalty of the next ejection."""
        base = min(self.max_penalty, self.min_penalty * 2.0 ** min(self.ejections, 30))
        return min(self.max_penalty, base * (1.0 + self.jitter * self.rng.random()))

    def success(self) -> None:
        self.failures = 0
        if self.state != ACTIVE:
            self.state, self.ejections, self.probe_out = ACTIVE, 0, False

    def failure(self, now: float) -> float | None:
        """Count a failure; the penalty in seconds if the endpoint is ejected now, else ``None``."""
        self.failures += 1
        if self.state == PROBING or (self.state == ACTIVE and self.failures >= self.max_failures):
            return self._eject(now)
        return None

    def _eject(self, now: float) -> float:
        penalty = self.penalty()
        self.state, self.until, self.probe_out = EJECTED, now + penalty, False
        self.ejections += 1
        return penalty

    def end_penalty(self) -> None:
        """The ejection is over: one probe request may go."""
        if self.state == EJECTED:
            self.state, self.probe_out = PROBING, False

    @property
    def available(self) -> bool:
        return self.state == ACTIVE or (self.state == PROBING and not self.probe_out)

    def take_probe(self) -> None:
        """A request was sent to a probing endpoint: no other until it ends."""
        if self.state == PROBING:
            self.probe_out = True
