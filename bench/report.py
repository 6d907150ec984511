"""Aggregation (medians, per-rep ratios) and the printed tables.

Ratios are computed inside each rep (runs seconds apart, same conditions) and
the median of those per-rep ratios is reported, as in the performance anchors.
"Added" latency is a target's percentile minus direct's percentile in the same
rep, median over reps. A `View` names the peers the ratios are taken against
(HAProxy and Envoy for HTTP/1, Envoy and nghttpx for HTTP/2 and gRPC) and the
table titles.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.loadgen import FIXED_RATE, SATURATION, Record

Stat = dict[str, float]
Runs = list[Record]
Summary = dict[str, Any]
DASH = "\u2013"  # en dash: "no value" cells and [min-max] ranges
LABELS = {"haproxy": "HAProxy", "envoy": "Envoy", "nghttpx": "nghttpx", "nginx": "nginx"}


@dataclass(frozen=True)
class View:
    """Which peers a suite's ratios use, and its table titles."""

    rps_peers: tuple[str, ...] = ("haproxy", "envoy")  # an "rps ÷ X" column each
    cpu_peers: tuple[str, ...] = ("haproxy",)  # a "CPU ÷ X" column each; added p99 ratio vs the first
    sat_title: str = "Saturation (wrk -t1 -c100):"
    fix_title: str = f"Fixed rate ~1000 req/s (wrk -t1 -c10, think time 0{DASH}20 ms):"


H1_VIEW = View()


def _stat(values: list[float]) -> Stat | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _per_rep(runs: Runs, target: str, shape: str, key: str) -> dict[int, float]:
    return {
        r["rep"]: r[key]
        for r in runs
        if r["target"] == target and r["shape"] == shape and r.get(key) is not None
    }


def _combine(
    runs: Runs, a: str, b: str, shape: str, key: str, op: Callable[[float, float], float | None]
) -> Stat | None:
    """Per-rep op(a, b) over reps where both targets have a value; then median."""
    va, vb = _per_rep(runs, a, shape, key), _per_rep(runs, b, shape, key)
    out = [op(va[r], vb[r]) for r in va if r in vb]
    return _stat([v for v in out if v is not None])


def _ratio(x: float, y: float) -> float | None:
    return x / y if y else None


def _diff(x: float, y: float) -> float:
    return x - y


def _shape_summary(runs: Runs, target: str, shape: str, keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: _stat(list(_per_rep(runs, target, shape, k).values())) for k in keys}
    out["errors"] = sum(r["error_count"] for r in runs if r["target"] == target and r["shape"] == shape)
    return out


_SAT_KEYS = (
    "rps",
    "proxy_cpu_us_per_req",
    "proxy_cores",
    "p50_us",
    "p99_us",
    "p999_us",
    "peak_rss_kb",
    "idle_rss_kb",
    "upstream_cpu_us_per_req",
)
_FIX_KEYS = (
    "rps",
    "p50_us",
    "p99_us",
    "p999_us",
    "proxy_cores",
    "proxy_cpu_us_per_req",
    "upstream_cpu_us_per_req",
)


def summarize(runs: Runs, targets: list[str], view: View = H1_VIEW) -> Summary:
    """Medians, ranges, per-rep ratios and added latency for every target."""
    summary = {}
    for t in targets:
        sat = _shape_summary(runs, t, SATURATION, _SAT_KEYS)
        fix = _shape_summary(runs, t, FIXED_RATE, _FIX_KEYS)
        for p in ("p50_us", "p99_us", "p999_us"):
            fix["added_" + p] = _combine(runs, t, "direct", FIXED_RATE, p, _diff)
        ratios = {f"rps_vs_{p}": _combine(runs, t, p, SATURATION, "rps", _ratio) for p in view.rps_peers}
        for p in view.cpu_peers:
            ratios[f"cpu_vs_{p}"] = _combine(runs, t, p, SATURATION, "proxy_cpu_us_per_req", _ratio)
        ratios[f"added_p99_vs_{view.cpu_peers[0]}"] = _combine_added_ratio(runs, t, view.cpu_peers[0])
        summary[t] = {SATURATION: sat, FIXED_RATE: fix, "ratios": ratios}
    return summary


def _combine_added_ratio(runs: Runs, target: str, peer: str) -> Stat | None:
    """Per rep: (target p99 - direct p99) / (peer p99 - direct p99)."""
    t = _per_rep(runs, target, FIXED_RATE, "p99_us")
    h = _per_rep(runs, peer, FIXED_RATE, "p99_us")
    d = _per_rep(runs, "direct", FIXED_RATE, "p99_us")
    vals = [(t[r] - d[r]) / (h[r] - d[r]) for r in t if r in h and r in d and h[r] - d[r] > 0]
    return _stat(vals)
