"""Failure accrual: eject after 7 consecutive failures, back off 1 s -> 60 s with jitter, probe once."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.accrual import ACTIVE, EJECTED, PROBING, FailureAccrual


def test_seven_consecutive_failures_eject() -> None:
    accrual = FailureAccrual(random.Random(1))
    assert [accrual.failure(0.0) for _ in range(6)] == [None] * 6
    penalty = accrual.failure(0.0)
    assert penalty is not None and 1.0 <= penalty <= 1.5
    assert accrual.state == EJECTED and not accrual.available


def test_a_success_resets_the_count() -> None:
    accrual = FailureAccrual(random.Random(1))
    for _ in range(6):
        accrual.failure(0.0)
    accrual.success()
    assert [accrual.failure(0.0) for _ in range(6)] == [None] * 6
    assert accrual.state == ACTIVE


def test_one_probe_then_back_or_ejected_longer() -> None:
    accrual = FailureAccrual(random.Random(1))
    for _ in range(7):
        accrual.failure(0.0)
    accrual.end_penalty()
    assert accrual.state == PROBING and accrual.available
    accrual.take_probe()
    assert not accrual.available  # one probe at a time
    second = accrual.failure(2.0)
    assert second is not None and 2.0 <= second <= 3.0
    accrual.end_penalty()
    accrual.take_probe()
    accrual.success()
    assert accrual.state == ACTIVE and accrual.ejections == 0


@given(st.integers(0, 2**32), st.integers(1, 40))
def test_penalties_double_from_one_second_up_to_sixty_with_jitter(seed: int, ejections: int) -> None:
    accrual = FailureAccrual(random.Random(seed))
    accrual.ejections = ejections - 1
    base = min(60.0, 2.0 ** (ejections - 1))
    assert base <= accrual.penalty() <= min(60.0, base * 1.5)
