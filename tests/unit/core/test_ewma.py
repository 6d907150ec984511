"""Peak-EWMA cost: peaks count at once, good answers and idle time decay it."""

from __future__ import annotations

import math

import pytest

from lightmesh.core.ewma import DEFAULT_RTT, PeakEwma


def test_a_new_endpoint_costs_the_default_rtt() -> None:
    assert PeakEwma(0.0).cost(0.0) == pytest.approx(DEFAULT_RTT)


def test_pending_requests_multiply_the_cost() -> None:
    ewma = PeakEwma(0.0)
    ewma.start()
    ewma.start()
    assert ewma.cost(0.0) == pytest.approx(3 * DEFAULT_RTT)


def test_a_slow_answer_raises_the_estimate_to_its_peak_at_once() -> None:
    ewma = PeakEwma(0.0)
    ewma.start()
    ewma.finish(0.5, 0.5)
    assert ewma.cost(0.5) == pytest.approx(0.5)


def test_faster_answers_pull_the_estimate_down_smoothly() -> None:
    ewma = PeakEwma(0.0, default_rtt=0.1)
    ewma.start()
    ewma.finish(1.0, 0.01)
    weight = math.exp(-1.0 / 10.0)
    assert ewma.estimate == pytest.approx(0.1 * weight + 0.01 * (1 - weight))


def test_idle_time_decays_the_cost_so_a_slow_endpoint_is_probed_again() -> None:
    ewma = PeakEwma(0.0)
    ewma.start()
    ewma.finish(0.0, 1.0)
    assert ewma.cost(30.0) == pytest.approx(math.exp(-3.0))


def test_a_slow_endpoint_costs_more_than_a_fast_one_under_the_same_load() -> None:
    fast, slow = PeakEwma(0.0), PeakEwma(0.0)
    for t in range(1, 400):  # 40 s of traffic: four decay periods
        for ewma, rtt in ((fast, 0.002), (slow, 0.052)):
            ewma.start()
            ewma.finish(t * 0.1, rtt)
    assert slow.cost(40.0) > 10 * fast.cost(40.0)
