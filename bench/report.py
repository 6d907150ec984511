"""Aggregation (medians, per-rep ratios) and the printed tables.

Ratios are computed inside each rep (runs seconds apart, same conditions) and
the median of those per-rep ratios is reported, as in the performance anchors.
"Added" latency is a target's percentile minus direct's percentile in the same
rep, median over reps.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.loadgen import FIXED_RATE, SATURATION, Record

Stat = dict[str, float]
Runs = list[Record]
Summary = dict[str, Any]
DASH = "\u2013"  # en dash: "no value" cells and [min-max] ranges


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


def summarize(runs: Runs, targets: list[str]) -> Summary:
    """Medians, ranges, per-rep ratios and added latency for every target."""
    summary = {}
    for t in targets:
        sat = _shape_summary(runs, t, SATURATION, _SAT_KEYS)
        fix = _shape_summary(runs, t, FIXED_RATE, _FIX_KEYS)
        for p in ("p50_us", "p99_us", "p999_us"):
            fix["added_" + p] = _combine(runs, t, "direct", FIXED_RATE, p, _diff)
        ratios = {
            "rps_vs_haproxy": _combine(runs, t, "haproxy", SATURATION, "rps", _ratio),
            "rps_vs_envoy": _combine(runs, t, "envoy", SATURATION, "rps", _ratio),
            "cpu_vs_haproxy": _combine(runs, t, "haproxy", SATURATION, "proxy_cpu_us_per_req", _ratio),
            "added_p99_vs_haproxy": _combine_added_ratio(runs, t),
        }
        summary[t] = {SATURATION: sat, FIXED_RATE: fix, "ratios": ratios}
    return summary


def _combine_added_ratio(runs: Runs, target: str) -> Stat | None:
    """Per rep: (target p99 - direct p99) / (haproxy p99 - direct p99)."""
    t = _per_rep(runs, target, FIXED_RATE, "p99_us")
    h = _per_rep(runs, "haproxy", FIXED_RATE, "p99_us")
    d = _per_rep(runs, "direct", FIXED_RATE, "p99_us")
    vals = [(t[r] - d[r]) / (h[r] - d[r]) for r in t if r in h and r in d and h[r] - d[r] > 0]
    return _stat(vals)


# ---------------------------------------------------------------- formatting


def _num(v: float) -> str:
    return f"{v:,.0f}"


def _ratio_s(v: float) -> str:
    return f"{v:.2f}x"


def _us(v: float, sign: bool = False) -> str:
    s = "+" if sign and v >= 0 else ""
    if abs(v) < 1000:
        return f"{s}{v:.0f} µs"
    return f"{s}{v / 1000:.2f} ms"


def _added(v: float) -> str:
    return _us(v, sign=True)


def _mb(v: float) -> str:
    return f"{v / 1024:.1f}"


def _cell(stat: Stat | None, fmt: Callable[[float], str], ranged: bool = False) -> str:
    if stat is None:
        return DASH
    text = fmt(stat["median"])
    if ranged and stat["n"] > 1:
        text += f" [{fmt(stat['min'])}{DASH}{fmt(stat['max'])}]"
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def _skip_row(target: str, ncols: int, notes: dict[str, list[str]]) -> list[str]:
    return [target, "skipped (see notes)"] + [""] * (ncols - 2)


def saturation_table(summary: Summary, targets: list[str], notes: dict[str, list[str]]) -> str:
    """Saturation table: wrk -t1 -c100."""
    header = [
        "target",
        "rps",
        "rps ÷ HAProxy",
        "rps ÷ Envoy",
        "proxy CPU µs/req",
        "CPU ÷ HAProxy",
        "p50 / p99",
        "idle RSS MB",
        "peak RSS MB",
        "errors",
    ]
    rows = []
    for t in targets:
        s, r = summary[t][SATURATION], summary[t]["ratios"]
        if s["rps"] is None:
            rows.append(_skip_row(t, len(header), notes))
            continue
        cpu = _cell(s["proxy_cpu_us_per_req"], lambda v: f"{v:.1f}", True)
        if t == "direct":
            cpu = f"{DASH} (upstream " + _cell(s["upstream_cpu_us_per_req"], lambda v: f"{v:.1f}") + ")"
        rows.append(
            [
                t,
                _cell(s["rps"], _num, True),
                _cell(r["rps_vs_haproxy"], _ratio_s, True),
                _cell(r["rps_vs_envoy"], _ratio_s, True),
                cpu,
                _cell(r["cpu_vs_haproxy"], _ratio_s),
                f"{_cell(s['p50_us'], _us)} / {_cell(s['p99_us'], _us)}",
                _cell(s["idle_rss_kb"], _mb),
                _cell(s["peak_rss_kb"], _mb),
                str(s["errors"]),
            ]
        )
    return _table(header, rows)


def fixed_rate_table(summary: Summary, targets: list[str], notes: dict[str, list[str]]) -> str:
    """Fixed-rate (~1000 req/s) latency table."""
    header = [
        "target",
        "rps",
        "p50",
        "p99",
        "p99.9",
        "added p50",
        "added p99",
        "added p99.9",
        "proxy cores",
        "errors",
    ]
    rows = []
    for t in targets:
        f = summary[t][FIXED_RATE]
        if f["rps"] is None:
            rows.append(_skip_row(t, len(header), notes))
            continue
        added = [
            _cell(f[k], _added, True) if t != "direct" else DASH
            for k in ("added_p50_us", "added_p99_us", "added_p999_us")
        ]
        rows.append(
            [
                t,
                _cell(f["rps"], _num),
                _cell(f["p50_us"], _us),
                _cell(f["p99_us"], _us),
                _cell(f["p999_us"], _us),
                *added,
                _cell(f["proxy_cores"], lambda v: f"{v:.3f}") if t != "direct" else DASH,
                str(f["errors"]),
            ]
        )
    return _table(header, rows)


def headline(summary: Summary) -> str:
    """One line with the ratios the project targets are stated in."""
    lm = summary.get("lightmesh")
    if lm is None or lm[SATURATION]["rps"] is None:
        return "lightmesh: no results (see notes)"
    r, f = lm["ratios"], lm[FIXED_RATE]
    return (
        "lightmesh: rps ÷ HAProxy = "
        + _cell(r["rps_vs_haproxy"], _ratio_s)
        + ", rps ÷ Envoy = "
        + _cell(r["rps_vs_envoy"], _ratio_s)
        + ", CPU/req ÷ HAProxy = "
        + _cell(r["cpu_vs_haproxy"], _ratio_s)
        + ", added p99 @~1k rps = "
        + _cell(f["added_p99_us"], _added)
        + " (÷ HAProxy's added p99 = "
        + _cell(r["added_p99_vs_haproxy"], _ratio_s)
        + ")"
    )


def render(summary: Summary, targets: list[str], notes: dict[str, list[str]], title: str) -> str:
    """The full printed report."""
    parts = [
        title,
        "",
        "Saturation (wrk -t1 -c100):",
        saturation_table(summary, targets, notes),
        "",
        f"Fixed rate ~1000 req/s (wrk -t1 -c10, think time 0{DASH}20 ms):",
        fixed_rate_table(summary, targets, notes),
        "",
        headline(summary),
    ]
    flat = [f"  {t}: {n}" for t in targets for n in dict.fromkeys(notes.get(t, []))]
    flat += [f"  {n}" for n in dict.fromkeys(notes.get("_general", []))]
    if flat:
        parts += ["", "Notes:", *flat]
    return "\n".join(parts)
