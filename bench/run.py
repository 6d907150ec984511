"""Side-by-side loopback benchmark: direct vs lightmesh vs HAProxy vs nginx vs Envoy.

Usage (see bench/README.md):

    python bench/run.py [--quick] [--reps N] [--duration S] [--layout split|onecpu|float]
                        [--targets direct,lightmesh,haproxy,nginx,envoy] [--json PATH]

One nginx upstream runs for the whole session. Each rep visits every target
once (interleaved); a visit starts the proxy fresh, warms it up, runs the
saturation shape, then the fixed-rate shape, and stops it by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import install, loadgen, measure, peers, procs, report
from bench.loadgen import Record

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WARMUP_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: 1 rep x 3 s")
    ap.add_argument("--reps", type=int, default=None, help="interleaved reps (default 3)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 10)")
    ap.add_argument(
        "--layout",
        choices=("split", "onecpu", "float"),
        default="split",
        help="split: proxy alone on CPU0, wrk+upstream on CPU1; "
        "onecpu: all on CPU1 (cleanest latency); float: no pinning",
    )
    ap.add_argument(
        "--targets", default=",".join(peers.TARGETS), help="comma list from " + ",".join(peers.TARGETS)
    )
    ap.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    ap.add_argument(
        "--no-install", action="store_true", help="never apt-get/pip install missing peers; skip them instead"
    )
    args = ap.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in args.targets if t not in peers.TARGETS]
    if bad:
        ap.error(f"unknown targets: {bad}")
    if "direct" not in args.targets:
        args.targets.insert(0, "direct")  # added latency needs the direct baseline
    return args


def layout_cpus(layout: str) -> tuple[set[int] | None, set[int] | None, str]:
    """(proxy CPUs, wrk+upstream CPUs, description) for a layout."""
    cpus = sorted(os.sched_getaffinity(0))
    if layout == "float":
        return None, None, "float: no pinning"
    if len(cpus) < 2:
        return {cpus[0]}, {cpus[0]}, f"only CPU{cpus[0]} available: everything on it"
    pcpu, lcpu = cpus[0], cpus[1]
    if layout == "onecpu":
        return {lcpu}, {lcpu}, f"onecpu: proxy, wrk and upstream all on CPU{lcpu}"
    return {pcpu}, {lcpu}, f"split: proxy on CPU{pcpu}, wrk + upstream on CPU{lcpu}"


def prepare_peers(
    targets: list[str], allow_install: bool, notes: dict[str, list[str]]
) -> tuple[list[str], str | None]:
    """Install/locate peers; return (targets that can run, envoy path)."""
    needed = ["wrk", "nginx"] + (["haproxy"] if "haproxy" in targets else [])
    missing = install.ensure_apt_tools(needed, allow_install)
    for tool in ("wrk", "nginx"):
        if tool in missing:
            sys.exit(f"[bench] cannot run: {missing[tool]}")
    runnable = list(targets)
    if "haproxy" in missing:
        notes.setdefault("haproxy", []).append(missing["haproxy"])
        runnable.remove("haproxy")
    envoy_bin = None
    if "envoy" in targets:
        envoy_bin, note = install.find_envoy(allow_install)
        if envoy_bin is None:
            notes.setdefault("envoy", []).append(note)
            runnable.remove("envoy")
    return runnable, envoy_bin


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


def versions(envoy_bin: str | None) -> dict[str, str]:
    out = {
        "python": sys.version.split()[0],
        "wrk": _first_line(["wrk", "-v"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "lightmesh_cmd": " ".join(peers.lightmesh_argv()[0]),
    }
    if envoy_bin:
        out["envoy"] = install.envoy_version(envoy_bin)
    return out


def _tree_cpu(running: peers.Running | None) -> float:
    return measure.cpu_seconds(running.proc.pid) if running and running.proc else 0.0


def measure_shape(
    target: peers.Running,
    upstream: peers.Running,
    shape: loadgen.Shape,
    script: Path,
    duration: float,
    load_cpus: set[int] | None,
) -> Record:
    """One wrk run with proxy/upstream CPU sampled before and after."""
    busy0 = measure.cpu_busy_jiffies()
    t_cpu0, u_cpu0, wall0 = _tree_cpu(target), _tree_cpu(upstream), time.monotonic()
    rec = loadgen.run_wrk(target.port, shape, script, duration, load_cpus)
    wall = time.monotonic() - wall0
    rec["cpu_busy"] = measure.cpu_busy_fraction(busy0, measure.cpu_busy_jiffies())
    t_cpu, u_cpu = _tree_cpu(target) - t_cpu0, _tree_cpu(upstream) - u_cpu0
    n = max(rec["requests"], 1)
    rec["upstream_cpu_us_per_req"] = u_cpu * 1e6 / n
    if target.proc is not None:
        rec["proxy_cpu_s"] = t_cpu
        rec["proxy_cpu_us_per_req"] = t_cpu * 1e6 / n
        rec["proxy_cores"] = t_cpu / wall
        rec["proxy_rss_kb_after"] = measure.tree_kb(target.proc.pid, "VmRSS")
        if shape.name == loadgen.SATURATION:
            rec["peak_rss_kb"] = measure.tree_kb(target.proc.pid, "VmHWM")
    return rec


def visit(
    ctx: peers.Context,
    name: str,
    rep: int,
    upstream: peers.Running,
    scripts: dict[str, Path],
    args: argparse.Namespace,
    cpus: tuple[set[int] | None, set[int] | None],
    notes: dict[str, list[str]],
) -> list[Record]:
    """Start one target, warm it up, run both shapes, stop it."""
    proxy_cpus, load_cpus = cpus
    try:
        target = peers.STARTERS[name](ctx, proxy_cpus)
    except Exception as exc:
        what = "lightmesh proxy" if name == "lightmesh" else name
        notes.setdefault(name, []).append(f"rep {rep}: {what} failed to start: {exc}")
        return []
    runs = []
    try:
        idle = measure.tree_kb(target.proc.pid, "VmRSS") if target.proc else None
        sat = loadgen.SHAPES[0]
        loadgen.run_wrk(target.port, sat, scripts[sat.name], WARMUP_S, load_cpus)
        for shape in loadgen.SHAPES:
            rec = measure_shape(target, upstream, shape, scripts[shape.name], args.duration, load_cpus)
            rec.update(target=name, rep=rep, shape=shape.name, idle_rss_kb=idle)
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
        f"[bench] rep {rec['rep']} {rec['target']:<9} {rec['shape']:<10} "
        f"{rec['rps']:>9,.0f} rps  p50 {rec['p50_us']} µs  p99 {rec['p99_us']} µs"
        f"{extra}  errors {rec['error_count']}",
        file=sys.stderr,
        flush=True,
    )


def run_all(
    args: argparse.Namespace,
    tmp: Path,
    targets: list[str],
    envoy_bin: str | None,
    notes: dict[str, list[str]],
) -> list[Record]:
    """Start the upstream, then run every rep over every target."""
    proxy_cpus, load_cpus, _ = layout_cpus(args.layout)
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)  # keep the harness off the proxy's core
    scripts = loadgen.write_scripts(tmp)
    upstream = peers.start_upstream(tmp, load_cpus)
    ctx = peers.Context(tmp, upstream.port, envoy_bin)
    runs: list[Record] = []
    try:
        for rep in range(1, args.reps + 1):
            for name in targets:
                runs += visit(ctx, name, rep, upstream, scripts, args, (proxy_cpus, load_cpus), notes)
    finally:
        upstream.stop()
    return runs


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    notes: dict[str, list[str]] = {}
    targets, envoy_bin = prepare_peers(args.targets, not args.no_install, notes)
    layout_desc = layout_cpus(args.layout)[2]
    est = args.reps * len(targets) * (2 * args.duration + WARMUP_S + 1)
    print(
        f"[bench] {layout_desc}; {args.reps} rep(s) x {args.duration:g} s; "
        f"targets {','.join(targets)}; about {est:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        with tempfile.TemporaryDirectory(prefix="lightmesh-bench-") as tmpdir:
            runs = run_all(args, Path(tmpdir), targets, envoy_bin, notes)
    finally:
        procs.stop_all()
    summary = report.summarize(runs, args.targets)
    title = (
        f"lightmesh bench {started} — layout {layout_desc}; "
        f"{args.reps} rep(s) x {args.duration:g} s; medians [min{report.DASH}max over reps]"
    )
    print(report.render(summary, args.targets, notes, title))
    path = write_json(args, runs, summary, notes, envoy_bin, started, layout_desc)
    print(f"\nJSON results: {path}")
    return 0


def write_json(
    args: argparse.Namespace,
    runs: list[Record],
    summary: report.Summary,
    notes: dict[str, list[str]],
    envoy_bin: str | None,
    started: str,
    layout_desc: str,
) -> Path:
    path = args.json or RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{args.layout}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "started": started,
        "layout": args.layout,
        "layout_desc": layout_desc,
        "reps": args.reps,
        "duration_s": args.duration,
        "targets": args.targets,
        "warmup_s": WARMUP_S,
        "think_time_ms": [0, loadgen.THINK_MAX_MS],
        "cpus": os.cpu_count(),
        "versions": versions(envoy_bin),
    }
    path.write_text(
        json.dumps(
            {"meta": meta, "summary": summary, "notes": notes, "runs": runs}, indent=2, ensure_ascii=False
        )
        + "\n"
    )
    return path


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        procs.stop_all()
        sys.exit("[bench] interrupted; started processes stopped")
