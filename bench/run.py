"""Side-by-side loopback benchmark: direct vs lightmesh vs HAProxy, nginx, nghttpx and Envoy.

Usage (see bench/README.md):

    python bench/run.py [--quick] [--reps N] [--duration S] [--layout split|onecpu|float]
                        [--suite h1,h2,grpc|all] [--targets LIST] [--json PATH]

Suites run one after the other: h1 (wrk, nginx upstream; the default), h2
(h2load, h2c GET, nghttpd upstream) and grpc (h2load, unary gRPC POST). One
upstream runs for each whole suite. Each rep visits every target once
(interleaved); a visit starts the proxy fresh, warms it up, runs the
saturation shape, then the fixed-rate shape, and stops it by PID.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen, measure, output, peers, procs, report, suites, tables
from bench.loadgen import Record

WARMUP_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: 1 rep x 3 s")
    ap.add_argument("--reps", type=int, default=None, help="interleaved reps (default 3)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per load run (default 10)")
    ap.add_argument(
        "--suite",
        default="h1",
        help="comma list of " + ",".join(suites.SUITES) + " or 'all' (default h1: HTTP/1.1 with wrk)",
    )
    ap.add_argument(
        "--layout",
        choices=("split", "onecpu", "float"),
        default="split",
        help="split: proxy alone on CPU0, load generator+upstream on CPU1; "
        "onecpu: all on CPU1 (cleanest latency); float: no pinning",
    )
    every = sorted({t for s in suites.SUITES.values() for t in s.targets})
    ap.add_argument(
        "--targets", default=None, help="comma list (default: all of each suite's) from " + ",".join(every)
    )
    ap.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    ap.add_argument(
        "--no-install", action="store_true", help="never apt-get/pip install missing peers; skip them instead"
    )
    args = ap.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    names = [n.strip() for n in args.suite.split(",") if n.strip()]
    args.suites = list(suites.SUITES) if names == ["all"] else list(dict.fromkeys(names))
    bad = [n for n in args.suites if n not in suites.SUITES]
    if bad or not args.suites:
        ap.error(f"unknown suites: {bad or args.suite!r}")
    if args.targets is not None:
        args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        known = {t for n in args.suites for t in suites.SUITES[n].targets}
        bad = [t for t in args.targets if t not in known]
        if bad:
            ap.error(f"unknown targets for suites {','.join(args.suites)}: {bad}")
    return args


def layout_cpus(layout: str) -> tuple[set[int] | None, set[int] | None, str]:
    """(proxy CPUs, load generator + upstream CPUs, description) for a layout."""
    cpus = sorted(os.sched_getaffinity(0))
    if layout == "float":
        return None, None, "float: no pinning"
    if len(cpus) < 2:
        return {cpus[0]}, {cpus[0]}, f"only CPU{cpus[0]} available: everything on it"
    pcpu, lcpu = cpus[0], cpus[1]
    if layout == "onecpu":
        return {lcpu}, {lcpu}, f"onecpu: proxy, load generator and upstream all on CPU{lcpu}"
    return {pcpu}, {lcpu}, f"split: proxy on CPU{pcpu}, load generator + upstream on CPU{lcpu}"


def _tree_cpu(running: peers.Running | None) -> float:
    return measure.cpu_seconds(running.proc.pid) if running and running.proc else 0.0


def measure_shape(target: peers.Running, h: suites.Harness, shape: str, duration: float) -> Record:
    """One load run with proxy/upstream CPU sampled before and after."""
    busy0 = measure.cpu_busy_jiffies()
    t_cpu0, u_cpu0, wall0 = _tree_cpu(target), _tree_cpu(h.upstream), time.monotonic()
    rec = h.load(target.port, shape, duration, False)
    wall = time.monotonic() - wall0
    rec["cpu_busy"] = measure.cpu_busy_fraction(busy0, measure.cpu_busy_jiffies())
    t_cpu, u_cpu = _tree_cpu(target) - t_cpu0, _tree_cpu(h.upstream) - u_cpu0
    n = max(rec["requests"], 1)
    rec["upstream_cpu_us_per_req"] = u_cpu * 1e6 / n
    if target.proc is not None:
        rec["proxy_cpu_s"] = t_cpu
        rec["proxy_cpu_us_per_req"] = t_cpu * 1e6 / n
        rec["proxy_cores"] = t_cpu / wall
        rec["proxy_rss_kb_after"] = measure.tree_kb(target.proc.pid, "VmRSS")
        if shape == loadgen.SATURATION:
            rec["peak_rss_kb"] = measure.tree_kb(target.proc.pid, "VmHWM")
    return rec


def visit(
    h: suites.Harness,
    suite: str,
    name: str,
    rep: int,
    args: argparse.Namespace,
    cpus: tuple[set[int] | None, set[int] | None],
    notes: dict[str, list[str]],
) -> list[Record]:
    """Start one target, warm it up, run both shapes, stop it."""
    proxy_cpus, load_cpus = cpus
    try:
        target = h.starters[name](h.ctx, proxy_cpus)
    except Exception as exc:
        what = "lightmesh proxy" if name == "lightmesh" else name
        notes.setdefault(name, []).append(f"rep {rep}: {what} failed to start: {exc}")
        return []
    runs = []
    try:
        idle = measure.tree_kb(target.proc.pid, "VmRSS") if target.proc else None
        extra: dict[str, object] = {}
        if target.proc is not None:  # where the proxy really runs (pinning sanity check)
            extra["proxy_affinity"] = sorted(os.sched_getaffinity(target.proc.pid))
        if h.inspect is not None:
            fields, note = h.inspect(target)
            extra.update(fields)
            if note:
                notes.setdefault(name, []).append(f"rep {rep}: {note}")
        h.load(target.port, loadgen.SATURATION, WARMUP_S, True)
        for shape in (loadgen.SATURATION, loadgen.FIXED_RATE):
            rec = measure_shape(target, h, shape, args.duration)
            rec.update(extra, suite=suite, target=name, rep=rep, shape=shape, idle_rss_kb=idle)
            runs.append(rec)
            _progress(rec)
            _check_idle_core(rec, proxy_cpus, load_cpus, notes)
    except RuntimeError as exc:
        notes.setdefault(name, []).append(f"rep {rep}: run failed: {exc}")
    finally:
        target.stop()
    return runs


def _check_idle_core(
    rec: Record, proxy_cpus: set[int] | None, load_cpus: set[int] | None, notes: dict[str, list[str]]
) -> None:
    """In split, the proxy core should be idle during direct runs: flag foreign load."""
    if rec["target"] != "direct" or not proxy_cpus or proxy_cpus == load_cpus:
        return
    for cpu in sorted(proxy_cpus):
        busy = rec["cpu_busy"].get(f"cpu{cpu}", 0.0)
        if busy > 0.25:
            notes.setdefault("_general", []).append(
                f"rep {rec['rep']} direct {rec['shape']}: CPU{cpu} (proxy core) was "
                f"{busy:.0%} busy with no proxy running: other load on the machine, "
                "numbers from this rep are suspect"
            )


def _progress(rec: Record) -> None:
    cpu = rec.get("proxy_cpu_us_per_req")
    extra = f", proxy {cpu:.1f} µs/req" if cpu is not None else ""
    extra += "  busy " + " ".join(f"{c}={b:.2f}" for c, b in rec["cpu_busy"].items())
    print(
        f"[bench] {rec['suite']:<4} rep {rec['rep']} {rec['target']:<9} {rec['shape']:<10} "
        f"{rec['rps']:>9,.0f} rps  p50 {rec['p50_us']} µs  p99 {rec['p99_us']} µs"
        f"{extra}  errors {rec['error_count']}",
        file=sys.stderr,
        flush=True,
    )


def run_suite(
    args: argparse.Namespace,
    suite: suites.Suite,
    tmp: Path,
    targets: list[str],
    cpus: tuple[set[int] | None, set[int] | None],
    envoy_bin: str | None,
    notes: dict[str, list[str]],
) -> list[Record]:
    """Start the suite's upstream, then run every rep over every target."""
    proxy_cpus, load_cpus = cpus
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)  # keep the harness off the proxy's core
    try:
        h = suites.start(suite, tmp, load_cpus, envoy_bin)
    except Exception as exc:
        notes.setdefault("_general", []).append(f"suite {suite.name}: upstream failed to start: {exc}")
        return []
    runs: list[Record] = []
    try:
        for rep in range(1, args.reps + 1):
            for name in targets:
                runs += visit(h, suite.name, name, rep, args, (proxy_cpus, load_cpus), notes)
    finally:
        h.upstream.stop()
    return runs


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    notes: dict[str, dict[str, list[str]]] = {}
    todo, envoy_bin = suites.plan(args.suites, args.targets, not args.no_install, notes)
    skipped = [n for sn in notes.values() for n in sn.get("_general", [])]
    if not todo:
        sys.exit("[bench] cannot run: " + "; ".join(skipped))
    for note in skipped:
        print(f"[bench] {note}", file=sys.stderr, flush=True)
    # once, before the first suite narrows the harness's own affinity to the load CPUs
    proxy_cpus, load_cpus, layout_desc = layout_cpus(args.layout)
    est = sum(args.reps * len(t) * (2 * args.duration + WARMUP_S + 1.5) for _, t in todo)
    print(
        f"[bench] {layout_desc}; {args.reps} rep(s) x {args.duration:g} s; "
        + "; ".join(f"{s.name}: {','.join(t)}" for s, t in todo)
        + f"; about {est:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    runs: dict[str, list[Record]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="lightmesh-bench-") as tmpdir:
            for suite, targets in todo:
                sub = Path(tmpdir) / suite.name
                sub.mkdir()
                cpus = (proxy_cpus, load_cpus)
                runs[suite.name] = run_suite(args, suite, sub, targets, cpus, envoy_bin, notes[suite.name])
    finally:
        procs.stop_all()
    results: dict[str, dict[str, object]] = {}
    for suite, _ in todo:
        shown = suites.targets_for(suite, args.targets)
        summary = report.summarize(runs[suite.name], shown, suite.view)
        title = (
            f"lightmesh bench {started} — {suite.label} — layout {layout_desc}; "
            f"{args.reps} rep(s) x {args.duration:g} s; medians [min{tables.DASH}max over reps]"
        )
        head = None if suite.name == "h1" else tables.h2_headline(suite.name, summary, runs[suite.name])
        print(tables.render(summary, shown, notes[suite.name], title, suite.view, head) + "\n")
        results[suite.name] = {"summary": summary, "notes": notes[suite.name], "runs": runs[suite.name]}
    for name in args.suites:  # a suite that could not run keeps its notes in the JSON
        results.setdefault(name, {"summary": {}, "notes": notes.get(name, {}), "runs": []})
    path = output.write_json(args, results, envoy_bin, started, layout_desc, WARMUP_S)
    print(f"JSON results: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        procs.stop_all()
        sys.exit("[bench] interrupted; started processes stopped")
