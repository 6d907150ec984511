"""Latency histograms with Linkerd's bucket bounds (milliseconds).

A :class:`Histogram` is a list of per-bucket counts plus a sum; it is turned into
cumulative Prometheus buckets only at scrape time. Observing a latency finds its
bucket in a table indexed by the latency rounded up to whole milliseconds (every
bound is a whole number of milliseconds, so that is the same bucket); only
latencies over a second take a ``bisect``.
"""

from __future__ import annotations

import bisect
from typing import Final

_bisect_left: Final = bisect.bisect_left  # a Final global: no dict lookup per call when compiled

# floats, as the observed latencies are: bisect then compares float with float, twice as fast
BOUNDS_MS: Final[tuple[float, ...]] = tuple(map(float, (
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
    1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
)))  # fmt: skip
_TABLE_MS: Final = 1000
# bucket of a latency in (ms - 1, ms], for every whole ms up to _TABLE_MS
_BUCKET_BY_MS: Final[tuple[int, ...]] = tuple(_bisect_left(BOUNDS_MS, ms) for ms in range(_TABLE_MS + 1))


class Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_MS) + 1)
        self.sum = 0.0

    def observe(self, value_ms: float) -> None:
        if 0.0 <= value_ms <= _TABLE_MS:
            whole = int(value_ms)
            self.counts[_BUCKET_BY_MS[whole if whole == value_ms else whole + 1]] += 1
        else:
            self.counts[_bisect_left(BOUNDS_MS, value_ms)] += 1
        self.sum += value_ms

    def cumulative(self) -> list[tuple[str, int]]:
        """Buckets as ``(le, cumulative count)`` pairs ending with ``+Inf``."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, count in zip((*BOUNDS_MS, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else f"{bound:g}", total))
        return out

    @property
    def count(self) -> int:
        return sum(self.counts)
