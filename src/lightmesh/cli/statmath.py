"""Golden metrics from samples: success rate, RPS, latency percentiles, TCP (pure).

:func:`golden` sums a set of samples (one window of one or more proxies) that pass a
label filter into :class:`Golden`: successes and failures from ``response_total``
(``classification``), the latency histogram from ``response_latency_ms_bucket``,
and the TCP gauges and byte counters of the given direction. :func:`quantile` is
Prometheus' ``histogram_quantile`` (linear interpolation inside the bucket; the
``+Inf`` bucket answers the highest finite bound). Route metrics use the same
functions with the ``route_`` prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lightmesh.cli.samples import Sample

Filter = Callable[[Sample], bool]


@dataclass
class Golden:
    success: float = 0.0
    failure: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    tcp_open: float = 0.0
    read_bytes: float = 0.0
    write_bytes: float = 0.0

    @property
    def requests(self) -> float:
        return self.success + self.failure

    def success_rate(self) -> float | None:
        return self.success / self.requests if self.requests > 0 else None

    def rps(self, seconds: float) -> float | None:
        return self.requests / seconds if self.requests > 0 else None

    def latency(self, q: float) -> float | None:
        return quantile(q, self.buckets) if self.requests > 0 else None


def _le(sample: Sample) -> float:
    text = sample.label("le")
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def golden(
    samples: Iterable[Sample],
    keep: Filter,
    direction: str,
    prefix: str = "",
    into: Golden | None = None,
) -> Golden:
    """Sum the ``direction`` samples that pass ``keep`` (``prefix``: ``route_`` for per-route)."""
    out = into if into is not None else Golden()
    responses, buckets = f"{prefix}response_total", f"{prefix}response_latency_ms_bucket"
    for s in samples:
        if s.label("direction") != direction:
            continue
        if s.name == responses and keep(s):
            if s.label("classification") == "success":
                out.success += s.value
            else:
                out.failure += s.value
        elif s.name == buckets and keep(s):
            le = _le(s)
            out.buckets[le] = out.buckets.get(le, 0.0) + s.value
        elif not prefix and s.label("peer") == ("src" if direction == "inbound" else "dst"):
            if s.name == "tcp_open_connections":
                out.tcp_open += s.value
            elif s.name == "tcp_read_bytes_total":
                out.read_bytes += s.value
            elif s.name == "tcp_write_bytes_total":
                out.write_bytes += s.value
    return out


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile(q, ...)`` over cumulative ``buckets``; ``None`` when empty."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # the highest finite bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = (bound if not math.isinf(bound) else lower), count
    return lower
