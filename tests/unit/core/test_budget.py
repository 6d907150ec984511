"""The retry budget: a reserve per second plus a ratio of recent requests (sans-I/O, explicit time)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.budget import RetryBudget


def test_reserve_allows_min_per_second_times_ttl_without_traffic() -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=10, ttl=10)
    assert sum(budget.withdraw(0.0) for _ in range(150)) == 100


def test_requests_add_their_ratio_of_retries() -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0, ttl=10)
    assert not budget.withdraw(0.0)
    for _ in range(10):
        budget.deposit(0.0)
    assert sum(budget.withdraw(0.0) for _ in range(10)) == 5


def test_deposits_and_withdrawals_expire_after_the_ttl() -> None:
    budget = RetryBudget(ratio=1.0, min_per_second=0, ttl=10)
    for _ in range(4):
        budget.deposit(0.0)
    assert sum(budget.withdraw(1.0) for _ in range(4)) == 4
    assert not budget.withdraw(5.0)
    assert budget.balance(11.5) == 0  # both forgotten
    budget.deposit(12.0)
    assert budget.withdraw(12.0)


@given(
    st.floats(0, 2),
    st.integers(0, 20),
    st.lists(st.tuples(st.floats(0, 0.9), st.booleans()), max_size=300),
)
def test_retries_in_one_window_never_exceed_reserve_plus_ratio(
    ratio: float, per_second: int, steps: list[tuple[float, bool]]
) -> None:
    """Within less than one slot of time, withdrawals <= reserve + ratio * deposits."""
    budget = RetryBudget(ratio, per_second, ttl=10)
    deposits = withdrawals = 0
    for at, is_retry in steps:
        if is_retry:
            withdrawals += budget.withdraw(at)
        else:
            budget.deposit(at)
            deposits += 1
        assert withdrawals <= per_second * 10 + ratio * deposits + 1e-9
