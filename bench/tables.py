"""Formatting: the printed tables and the lightmesh headline of each suite.

Cells are the median over reps, `[min-max]` when there are several reps. The
HTTP/1 headline states the ratios against HAProxy and Envoy; the HTTP/2 and
gRPC headline states the HTTP/2 issue's targets (rps >= Envoy's, minimum 0.5x;
peak RSS <= 35 MB) and says when lightmesh relayed h2c as opaque TCP.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.loadgen import FIXED_RATE, SATURATION, Record
from bench.report import DASH, H1_VIEW, LABELS, Stat, Summary, View

RSS_TARGET_MB = 35.0  # HTTP/2 issue: proxy peak RSS <= 35 MB under h2load -c10 -m10


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


def saturation_table(
    summary: Summary, targets: list[str], notes: dict[str, list[str]], view: View = H1_VIEW
) -> str:
    """Saturation table (closed loop)."""
    header = [
        "target",
        "rps",
        *(f"rps ÷ {LABELS.get(p, p)}" for p in view.rps_peers),
        "proxy CPU µs/req",
        *(f"CPU ÷ {LABELS.get(p, p)}" for p in view.cpu_peers),
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
                *(_cell(r[f"rps_vs_{p}"], _ratio_s, True) for p in view.rps_peers),
                cpu,
                *(_cell(r[f"cpu_vs_{p}"], _ratio_s) for p in view.cpu_peers),
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
        + _floor_line(summary)
    )


def _floor_line(summary: Summary) -> str:
    """The bare CPython relay's ratio: what no feature costs yet (bench/floor_relay.py)."""
    floor = summary.get("pyfloor")
    if floor is None or floor[SATURATION]["rps"] is None:
        return ""
    return "\npyfloor (bare uvloop + httptools relay): rps ÷ HAProxy = " + _cell(
        floor["ratios"]["rps_vs_haproxy"], _ratio_s
    )


def h2_headline(suite: str, summary: Summary, runs: list[Record]) -> str:
    """The lightmesh line of an HTTP/2 suite, against the HTTP/2 issue's targets."""
    lm = summary.get("lightmesh")
    if lm is None or lm[SATURATION]["rps"] is None:
        return f"lightmesh ({suite}): no results (see notes)"
    r, s, f = lm["ratios"], lm[SATURATION], lm[FIXED_RATE]
    verdict = "no Envoy row"
    if r["rps_vs_envoy"] is not None:
        v = r["rps_vs_envoy"]["median"]
        verdict = "target met" if v >= 1.0 else "below target, above minimum" if v >= 0.5 else "BELOW MINIMUM"
    rss = s["peak_rss_kb"]
    rss_text = _cell(rss, _mb) + " MB"
    if rss is not None:
        met = "met" if rss["median"] / 1024 <= RSS_TARGET_MB else "OVER"
        rss_text += f" (target ≤ {RSS_TARGET_MB:g} MB: {met})"
    relayed = any(x.get("h2_relayed") for x in runs if x["target"] == "lightmesh")
    return (
        f"lightmesh ({suite}{', opaque TCP relay, not HTTP/2 proxying' if relayed else ''}): "
        f"rps ÷ Envoy = {_cell(r['rps_vs_envoy'], _ratio_s)} (target ≥ 1.00x, minimum 0.50x: {verdict}), "
        f"rps ÷ nghttpx = {_cell(r['rps_vs_nghttpx'], _ratio_s)}, "
        f"CPU/req ÷ Envoy = {_cell(r['cpu_vs_envoy'], _ratio_s)}, "
        f"added p99 @~1k rps = {_cell(f['added_p99_us'], _added)}, "
        f"peak RSS = {rss_text}"
    )


def render(
    summary: Summary,
    targets: list[str],
    notes: dict[str, list[str]],
    title: str,
    view: View = H1_VIEW,
    head: str | None = None,
) -> str:
    """The full printed report of one suite (`head` replaces the HTTP/1 headline)."""
    parts = [
        title,
        "",
        view.sat_title,
        saturation_table(summary, targets, notes, view),
        "",
        view.fix_title,
        fixed_rate_table(summary, targets, notes),
        "",
        head if head is not None else headline(summary),
    ]
    flat = [f"  {t}: {n}" for t in targets for n in dict.fromkeys(notes.get(t, []))]
    flat += [f"  {n}" for n in dict.fromkeys(notes.get("_general", []))]
    if flat:
        parts += ["", "Notes:", *flat]
    return "\n".join(parts)
