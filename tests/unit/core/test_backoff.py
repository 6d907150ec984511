from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.backoff import Backoff


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=30))
def test_waits_are_jittered_halves_of_a_delay_doubling_up_to_the_cap(seed: int, attempts: int) -> None:
    backoff = Backoff(0.1, 10.0, random.Random(seed))
    delay = 0.1
    for _ in range(attempts):
        wait = backoff.next()
        assert delay / 2 <= wait <= delay
        delay = min(delay * 2, 10.0)
    assert backoff.delay == delay


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(1.0, 60.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.delay == 1.0 and backoff.next() <= 1.0
