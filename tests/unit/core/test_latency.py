"""Latency histograms: Linkerd's bucket bounds, inclusive upper bounds, cumulative output."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.latency import BOUNDS_MS, Histogram

LINKERD_LE = [
    "1", "2", "3", "4", "5", "10", "20", "30", "40", "50", "100", "200", "300", "400", "500",
    "1000", "2000", "3000", "4000", "5000", "10000", "20000", "30000", "40000", "50000", "+Inf",
]  # fmt: skip


def _bucket_of(value_ms: float) -> str:
    """The smallest ``le`` whose cumulative count includes ``value_ms``."""
    histogram = Histogram()
    histogram.observe(value_ms)
    return next(le for le, count in histogram.cumulative() if count == 1)


def test_bucket_bounds_are_linkerds() -> None:
    assert [le for le, _ in Histogram().cumulative()] == LINKERD_LE


def test_empty_histogram_has_zero_counts() -> None:
    histogram = Histogram()
    assert all(count == 0 for _, count in histogram.cumulative())
    assert histogram.count == 0
    assert histogram.sum == 0.0


@pytest.mark.parametrize(
    ("value_ms", "le"),
    [
        (-1.5, "1"),
        (0, "1"),
        (1, "1"),
        (1.001, "2"),
        (5, "5"),
        (5.5, "10"),
        (10.000001, "20"),
        (999.99999, "1000"),
        (1000, "1000"),
        (1000.00001, "2000"),
        (50000, "50000"),
        (50000.1, "+Inf"),
    ],
)
def test_upper_bounds_are_inclusive(value_ms: float, le: str) -> None:
    assert _bucket_of(value_ms) == le


@pytest.mark.parametrize("bound", BOUNDS_MS)
def test_an_observation_on_a_bound_lands_in_that_bucket(bound: float) -> None:
    assert _bucket_of(bound) == f"{bound:g}"


def test_cumulative_counts_include_all_smaller_buckets() -> None:
    histogram = Histogram()
    for value in (0.5, 5, 7, 7, 60_000):
        histogram.observe(value)
    buckets = dict(histogram.cumulative())
    assert (buckets["1"], buckets["4"], buckets["5"], buckets["10"], buckets["50000"]) == (1, 1, 2, 4, 4)
    assert buckets["+Inf"] == histogram.count == 5
    assert histogram.sum == pytest.approx(60_019.5)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=50))
def test_cumulative_counts_never_decrease_and_end_at_the_count(values: list[float]) -> None:
    histogram = Histogram()
    for value in values:
        histogram.observe(value)
    counts = [count for _, count in histogram.cumulative()]
    assert counts == sorted(counts)
    assert counts[-1] == histogram.count == len(values)
    assert histogram.sum == pytest.approx(sum(values))
    for (le, count), bound in zip(histogram.cumulative(), (*BOUNDS_MS, float("inf")), strict=True):
        assert count == sum(1 for v in values if v <= bound), le


@given(
    st.one_of(
        st.floats(min_value=-10, max_value=60_000, allow_nan=False),
        st.integers(0, 1001).map(float),
        st.integers(0, 1001).map(lambda ms: ms + 1e-9),
        st.integers(1, 1001).map(lambda ms: ms - 1e-9),
    )
)
def test_every_latency_lands_in_the_first_bucket_whose_bound_is_not_smaller(value_ms: float) -> None:
    histogram = Histogram()
    histogram.observe(value_ms)
    assert histogram.counts.index(1) == bisect.bisect_left(BOUNDS_MS, value_ms)
