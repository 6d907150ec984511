"""The destination scale bench's printed table and JSON file (bench/results/)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.dscale_report import spread

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_P99_MS = 1000.0


def cores(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds / wall seconds per process between two samples (and the wall time)."""
    wall = after["wall"] - before["wall"]
    out = {k: round((after[k] - before[k]) / wall, 3) for k in before if k != "wall"}
    return out | {"wall_s": round(wall, 2)}


def _ms(stats: dict[str, Any], keys: tuple[str, ...] = ("p50", "p90", "p99", "max")) -> str:
    return " / ".join("-" if stats.get(k) is None else f"{stats[k]:g}" for k in keys) + " ms"


def _mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


def _metric(res: dict[str, Any], name: str) -> float:
    after: dict[str, float] = res["metrics_after"]
    before: dict[str, float] = res["metrics_before"]
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(name + "{"))


def rows(args: argparse.Namespace, res: dict[str, Any]) -> list[tuple[str, str]]:
    ch, prop, pairs, po = res["churn"], res["propagation_ms"], res["pairs"], res["parse_offline_ms"]
    n = len(ch["changes"])
    p99 = prop.get("p99")
    met = p99 is not None and p99 <= TARGET_P99_MS and pairs["missed"] == 0
    verdict = "MET" if met else "NOT MET"
    busy = " ".join(f"{k}={v:.2f}" for k, v in sorted(res["cpu_busy"].items()))
    c1, c2 = res["cpu"]["churn"], res["cpu"]["churn_and_drain"]
    sub = res["subscribe"]
    span = max(ch["seconds"], ch["writes"] * args.batch / args.rate)  # the last write opens its slot
    write, unexpected = _ms(spread(ch["write_s"]), ("p50", "max")), pairs["unexpected"]
    out = [
        ("changes made", f"{n} in {span:.1f} s = {n / span:.1f}/s; {ch['writes']} writes"),
        ("writer", f"write {write}; max lag {ch['lag_max_s'] * 1e3:.0f} ms"),
        ("(stream, change) pairs", f"{pairs['pairs']}; missed {pairs['missed']}; unexpected {unexpected}"),
        ("propagation p50/p90/p99/max", _ms(prop)),
        (f"target p99 <= {TARGET_P99_MS:g} ms at {args.rate:g}/s", verdict),
        ("drain after last change", f"{res['drain_s']:.2f} s"),
        ("controller CPU", f"{c1['controller']:.2f} cores (churn), {c2['controller']:.2f} (churn+drain)"),
        ("controller RSS", f"{_mb(res['rss_loaded_kb'])} loaded, {_mb(res['rss_subscribed_kb'])} subscribed, "
         f"peak VmHWM {_mb(res['hwm_kb']['controller'])}"),
        ("client CPU / peak RSS", f"{c1['client']:.2f} cores / {_mb(res['hwm_kb']['client'])}"),
        ("client loop lag p50/p90/p99/max", _ms(res["client_loop_lag_ms"])),
        ("harness (writer) CPU", f"{c1['harness']:.2f} cores"),
        ("machine CPU busy", busy + f" (loadavg at start {' '.join(res['loadavg_start'])})"),
        ("subscribe", f"{args.streams} streams in {sub['all_s']} s; initial add {sub['initial_min']}-"
         f"{sub['initial_max']} addrs"),
        ("updates sent", f"{_metric(res, 'destination_updates_total'):.0f} messages"),
        ("registry parse (offline)", f"slow {po['slow']:g} ms, fast {po['fast']:g} ms, by blocks "
         f"{po['cold']:g} ms, after one change {po['one_change']:g} ms "
         f"({res['registry_bytes'] / 1024:.0f} KiB)"),
    ]  # fmt: skip
    if args.source == "file":
        rl = res["reload"]
        per = n / rl["reloads"] if rl["reloads"] else float("nan")
        out.append(("reloads applied", f"{rl['reloads']} ({rl['reloads_per_s']}/s), {per:.1f} changes each"))
        out.append(("reload cycle p50/p90/p99/max", _ms(rl["cycle_ms"]) + f" (poll {args.poll * 1000:g} ms)"))
    if errors := res["client_errors"]["count"]:
        out.append(("client stream errors", f"{errors}: {res['client_errors']['first']}"))
    return out


def render(args: argparse.Namespace, res: dict[str, Any], started: str) -> str:
    per = args.endpoints // args.services
    title = (
        f"lightmesh destination scale {started} — source {args.source}, {args.services} services x ~{per} "
        f"endpoints, {args.streams} streams ({args.per_conn}/connection), {args.rate:g} changes/s x "
        f"{args.duration:g} s, batch {args.batch}, poll {args.poll:g} s"
    )
    lines = [title, "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows(args, res)]
    prof = res.get("profile")
    if prof and "share" in prof:
        lines += ["", f"controller profile (py-spy, {prof['samples']} samples of active CPU):"]
        lines += [f"  {share * 100:5.1f}%  {label}" for label, share in prof["share"].items() if share]
        lines += ["  top leaf frames:"] + [f"  {s * 100:5.1f}%  {f}" for f, s in prof["top_leaves"][:8]]
    return "\n".join(lines)


def write_json(args: argparse.Namespace, res: dict[str, Any], started: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.json or RESULTS_DIR / f"destination-scale-{stamp}-{args.source}-b{args.batch}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    churn = dict(res["churn"])
    changes = churn.pop("changes")
    churn["write_ms"] = spread(churn.pop("write_s"))
    churn["count"] = len(changes)
    churn["adds"] = sum(1 for c in changes if c[2] == "add")
    given = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    meta: dict[str, Any] = {"started": started, "args": given}
    meta |= {"python": sys.version.split()[0], "cpus": os.cpu_count(), "target_p99_ms": TARGET_P99_MS}
    doc = {"meta": meta, "results": res | {"churn": churn}, "table": dict(rows(args, res))}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
