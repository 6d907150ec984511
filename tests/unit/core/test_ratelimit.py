"""The token bucket admits a burst, then ``rate`` per second, and never more."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.ratelimit import TokenBucket


def test_a_full_bucket_admits_its_burst_then_refuses() -> None:
    bucket = TokenBucket(3.0, now=10.0)
    assert [bucket.admit(10.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(2.0, now=0.0)
    assert bucket.admit(0.0) and bucket.admit(0.0)
    assert not bucket.admit(0.1)
    assert bucket.admit(0.5)  # 0.5 s at 2/s: one token
    assert not bucket.admit(0.5)


def test_a_rate_below_one_still_admits_one_request() -> None:
    bucket = TokenBucket(0.5, now=0.0)
    assert bucket.admit(0.0)
    assert not bucket.admit(1.0)
    assert bucket.admit(2.0)


def test_a_rate_of_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0.0)


@given(
    st.floats(0.1, 1000.0),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
)
def test_admissions_never_exceed_burst_plus_rate_times_time(rate: float, gaps: list[float]) -> None:
    bucket = TokenBucket(rate, now=0.0)
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        admitted += bucket.admit(now)
    assert admitted <= bucket.burst + rate * now + 1e-6
