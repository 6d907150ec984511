"""Scale simulation of the destination service: many Get streams, many endpoints, churn.

    python bench/destination_scale.py [--streams 1000] [--endpoints 10000] [--services 100]
        [--rate 100] [--duration 30] [--batch 1] [--source file|pipe] [--profile] [--json PATH]

Starts ``lightmesh controller`` over a generated registry, opens ``--streams``
``Destination.Get`` streams from a load-generator process, then changes the registry
``--rate`` times a second for ``--duration`` seconds and measures, for every (stream,
change) pair, the time from the change to the stream's receipt. ``--source file`` writes
the registry file atomically (``--batch`` changes per write); ``--source pipe`` feeds the
same changes to the real destination service one ``set_service`` at a time, without the
file source (bench/dscale_pipectl.py). See bench/README.md, "Destination scale".
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import dscale_churn, dscale_procs, dscale_report, dscale_table, measure
from bench.dscale_registry import Registry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=1000, help="Destination.Get streams (default 1000)")
    ap.add_argument("--endpoints", type=int, default=10_000, help="endpoints at start (default 10000)")
    ap.add_argument("--services", type=int, default=100, help="services; endpoints spread evenly (100)")
    ap.add_argument("--rate", type=float, default=100.0, help="changes per second (default 100)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of churn (default 30)")
    ap.add_argument("--batch", type=int, default=1, help="changes per registry write (default 1)")
    ap.add_argument("--source", choices=("file", "pipe"), default="file", help="how changes reach it")
    ap.add_argument("--poll", type=float, default=0.05, help="--registry-poll-interval (default 0.05)")
    ap.add_argument("--per-conn", type=int, default=10, help="streams per HTTP/2 connection (10)")
    ap.add_argument("--profile", action="store_true", help="py-spy the controller during the churn")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="default bench/results/destination-scale-*")
    args = ap.parse_args(argv)
    if not 1 <= args.per_conn <= 100:
        ap.error("--per-conn must be 1..100 (the controller allows 100 streams per connection)")
    if args.rate <= 0 or args.duration <= 0 or args.batch < 1 or args.streams < 1:
        ap.error("--rate, --duration, --batch and --streams must be positive")
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    registry = Registry(args.services, args.endpoints, args.seed)
    path = work / "registry.yaml"
    registry.write(path)
    text = path.read_text()
    res["parse_offline_ms"] = offline_parse(text, str(path))
    res["registry_bytes"] = len(text.encode())
    say(f"registry: {args.services} services, {args.endpoints} endpoints; parse {res['parse_offline_ms']} ms")
    ctl, api, admin = dscale_procs.start_controller(args.source, path, args.poll, work)
    res["rss_loaded_kb"] = measure.tree_kb(ctl.pid, "VmRSS")
    client = dscale_procs.start_client(api, args.services, args.streams, args.per_conn, work)
    sub_start = time.monotonic()
    ready = json.loads(client.expect("ready", 180))
    say(f"controller pid {ctl.pid} ({args.source} source); {args.streams} streams subscribed")
    res["subscribe"] = {"all_s": round(time.monotonic() - sub_start, 2), **ready}
    res["rss_subscribed_kb"] = measure.tree_kb(ctl.pid, "VmRSS")
    res["metrics_before"] = dscale_procs.metrics(admin)
    spy = None
    if args.profile:
        spy = dscale_procs.start_pyspy(ctl.pid, args.duration + 5, work / "profile.txt", work)
    pids = {"controller": ctl.pid, "client": client.pid}
    client.send("go\n")
    cpu0, busy0, wall0 = dscale_churn.cpu(pids), measure.cpu_busy_jiffies(), time.time()
    say(f"churn: {args.rate:g} changes/s x {args.duration:g} s, {args.batch} per write")
    res["churn"] = dscale_churn.churn(args, registry, path, ctl)
    cpu1 = dscale_churn.cpu(pids)
    expected = sum(len(range(c[1], args.streams, args.services)) for c in res["churn"]["changes"])
    res["events"], res["drain_s"] = dscale_churn.drain(client, expected)
    say(f"drained: {res['events']} of {expected} address events in {res['drain_s']:.1f} s")
    cpu2, busy2, wall2 = dscale_churn.cpu(pids), measure.cpu_busy_jiffies(), time.time()
    res["cpu_busy"] = measure.cpu_busy_fraction(busy0, busy2)
    res["cpu"] = {"churn": dscale_table.cores(cpu0, cpu1), "churn_and_drain": dscale_table.cores(cpu0, cpu2)}
    res["hwm_kb"] = {name: measure.tree_kb(pid, "VmHWM") for name, pid in pids.items()}
    res["metrics_after"] = dscale_procs.metrics(admin)
    client.send("stop\n")
    client.finish(30.0)
    if spy is not None:
        spy.stop(signal.SIGINT, grace=30.0)  # py-spy writes its file on SIGINT
        prof = work / "profile.txt"
        res["profile"] = dscale_report.profile_shares(prof) if prof.exists() else {"error": spy.tail()}
    res["controller_exit"] = ctl.stop()
    reloads = dscale_report.reload_times(ctl.log)
    res["reload"] = dscale_report.reload_stats(reloads, wall0, wall2, args.poll)
    out = json.loads((work / "events.json").read_text())
    prop = dscale_report.propagation(res["churn"]["changes"], out["events"], args.streams, args.services)
    res["propagation_ms"] = dscale_report.spread(prop.pop("latencies"))
    res["pairs"] = prop
    res["client_errors"] = {"count": out["error_count"], "first": out["errors"][:5]}
    res["client_loop_lag_ms"] = dscale_report.spread(out["lag_s"])
    return res


def offline_parse(text: str, source: str) -> dict[str, float]:
    """Best of 3, in ms, in this process before anything else runs: the slow path (node tree
    for line numbers + pydantic, what every reload cost before), the fast path on the whole
    text (``parse_registry``), the file source's ``RegistryParser`` from cold (the
    controller's start-up) and its reload after one endpoint of one service changed."""
    from lightmesh.controller.registry import parse_registry, parse_registry_slow
    from lightmesh.controller.registryblocks import RegistryParser

    first = text.index("address: ") + len("address: ")
    edited = text[:first] + "10.255.255.254:8080" + text[text.index("\n", first) :]
    parser = RegistryParser()

    def one_change() -> float:
        parser.parse(text, source)  # the cache holds the registry as written
        return _timed(parser.parse, edited, source)

    runs: dict[str, Callable[[], float]] = {
        "slow": lambda: _timed(parse_registry_slow, text, source),
        "fast": lambda: _timed(parse_registry, text, source),
        "cold": lambda: _timed(RegistryParser().parse, text, source),
        "one_change": one_change,
    }
    return {name: round(min(run_once() for _ in range(3)) * 1000, 1) for name, run_once in runs.items()}


def _timed(parse: Callable[[str, str], object], text: str, source: str) -> float:
    t = time.perf_counter()
    parse(text, source)
    return time.perf_counter() - t


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def say(text: str) -> None:
    print(f"[dscale] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        with tempfile.TemporaryDirectory(prefix="lightmesh-dscale-") as tmp:
            res = run(args, Path(tmp))
    finally:
        dscale_procs.stop_all()
    print(dscale_table.render(args, res, started))
    path = dscale_table.write_json(args, res, started)
    print(f"JSON results: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        dscale_procs.stop_all()
        sys.exit("[dscale] interrupted; started processes stopped")
