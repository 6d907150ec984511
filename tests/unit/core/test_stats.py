"""TCP connection counters: open/close bookkeeping, bytes and durations by classification."""

from __future__ import annotations

from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.stats import TcpStats


def test_new_stats_are_zero() -> None:
    stats = TcpStats("inbound", "src")
    assert (stats.direction, stats.peer) == ("inbound", "src")
    assert (stats.open_total, stats.opened, stats.read_bytes, stats.write_bytes) == (0, 0, 0, 0)
    assert stats.closes == {}
    assert stats.durations == {}


def test_open_counts_total_and_currently_open() -> None:
    stats = TcpStats("outbound", "dst")
    stats.open()
    stats.open()
    assert (stats.open_total, stats.opened) == (2, 2)


def test_close_counts_bytes_and_closes_by_classification() -> None:
    stats = TcpStats("outbound", "dst")
    for _ in range(3):
        stats.open()
    stats.close(12.0, read=100, written=10, classification=SUCCESS)
    stats.close(3.0, read=1, written=2, classification=SUCCESS)
    stats.close(70_000.0, read=0, written=5, classification=FAILURE)
    assert (stats.open_total, stats.opened) == (3, 0)
    assert (stats.read_bytes, stats.write_bytes) == (101, 17)
    assert stats.closes == {SUCCESS: 2, FAILURE: 1}


def test_close_records_durations_per_classification() -> None:
    stats = TcpStats("inbound", "src")
    stats.open()
    stats.open()
    stats.close(12.0, 0, 0, SUCCESS)
    stats.close(70_000.0, 0, 0, FAILURE)
    success = dict(stats.durations[SUCCESS].cumulative())
    failure = dict(stats.durations[FAILURE].cumulative())
    assert (success["10"], success["20"], success["+Inf"]) == (0, 1, 1)
    assert (failure["50000"], failure["+Inf"]) == (0, 1)
    assert stats.durations[SUCCESS].sum == 12.0
