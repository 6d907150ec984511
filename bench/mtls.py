"""The full mesh path with mutual TLS against direct and against HAProxy-to-HAProxy over TLS.

Usage (see bench/README.md, "mTLS"):

    python bench/mtls.py [--quick] [--reps N] [--duration S] [--layout split|onecpu|float]
                         [--idle-conns N] [--json PATH]

Paths, each with a fresh process set per visit (bench/mtls_peers.py): ``direct`` (wrk ->
nginx), ``lightmesh-mtls`` (wrk -> client proxy -> mTLS -> server proxy -> nginx),
``lightmesh-plain`` (the same, plaintext between the proxies), ``haproxy-tls`` and
``haproxy-plain`` (two HAProxies the same way). Every rep visits every path (interleaved)
with the two wrk shapes of bench/loadgen.py: saturation (-c100) and ~1000 req/s (-c10
with 0-20 ms think time). Reported: rps, latency, the added p99 at ~1000 req/s over
direct (the target: <= 1 ms for the two hops), the hops' CPU per request, the throughput
cost of TLS (mTLS rps / plain rps, lightmesh and HAProxy), lightmesh-mtls / haproxy-tls,
and the memory per idle mTLS connection on the terminating hop (target <= 64 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen, measure, mtls_peers, peers, procs
from bench.peers import Context

TARGETS = ("direct", "lightmesh-mtls", "lightmesh-plain", "haproxy-tls", "haproxy-plain")
HOST_LUA = 'wrk.headers["Host"] = "web:80"\n'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 rep x 3 s, 200 idle connections")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--layout", choices=("split", "onecpu", "float"), default="split")
    ap.add_argument(
        "--idle-conns", type=int, default=None, help="idle mTLS connections for the memory figure"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.idle_conns = args.idle_conns or (200 if args.quick else 1000)
    return args


def layout(name: str) -> tuple[set[int] | None, set[int] | None]:
    """(proxy CPUs, load generator + upstream CPUs)."""
    if name == "split":
        return {0}, {1}
    if name == "onecpu":
        return {1}, {1}
    return None, None


def start(target: str, ctx: Context, ids: dict[str, Path], cpus: set[int] | None) -> mtls_peers.Pair | None:
    if target == "direct":
        return None
    if target.startswith("lightmesh"):
        return mtls_peers.lightmesh_pair(ctx, ids, target.endswith("mtls"), cpus)
    return mtls_peers.haproxy_pair(ctx, ids, target.endswith("tls"), cpus)


def hop_cpu(pair: mtls_peers.Pair | None) -> float:
    if pair is None:
        return 0.0
    return sum(measure.cpu_seconds(p.pid) for p in pair.procs if p.name != "controller")


def visit(target: str, rep: int, ctx: Context, ids: dict[str, Path], args: argparse.Namespace,
          scripts: dict[str, Path]) -> list[dict[str, Any]]:  # fmt: skip
    proxy_cpus, load_cpus = layout(args.layout)
    pair = start(target, ctx, ids, proxy_cpus)
    port = ctx.upstream_port if pair is None else pair.port
    records = []
    try:
        shapes = {s.name: s for s in loadgen.SHAPES}
        loadgen.run_wrk(
            port, shapes[loadgen.SATURATION], scripts[loadgen.SATURATION], 1.0, load_cpus
        )  # warm-up
        for shape in loadgen.SHAPES:
            cpu0 = hop_cpu(pair)
            record = loadgen.run_wrk(port, shape, scripts[shape.name], args.duration, load_cpus)
            record["cpu_us_per_req"] = (hop_cpu(pair) - cpu0) * 1e6 / max(record["requests"], 1)
            record.update(target=target, rep=rep, shape=shape.name)
            records.append(record)
            print(
                f"  rep {rep} {target:16} {shape.name:10} {record['rps']:9.0f} rps"
                f"  p50 {record['p50_us']:6d} us  p99 {record['p99_us']:6d} us"
                f"  errors {record['error_count']}",
                flush=True,
            )
    finally:
        if pair is not None:
            pair.stop()
    return records


def idle_memory(ctx: Context, ids: dict[str, Path], target: str, conns: int) -> dict[str, float]:
    """RSS growth of the terminating hop per idle (keep-alive, after one request) connection."""
    proxy_cpus, _ = layout("float")
    pair = start(target, ctx, ids, proxy_cpus)
    assert pair is not None and pair.server is not None
    tls = target in ("lightmesh-mtls", "haproxy-tls")
    port = pair.server_port
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=str(ids["anchors"]))
        context.load_cert_chain(str(ids["client.pem"]))
    sockets: list[socket.socket] = []
    try:
        for _ in range(20):  # warm the allocator and the code paths first
            _request(_open(port, context)).close()
        time.sleep(1.0)
        before = measure.tree_kb(pair.server.pid, "VmRSS")
        for _ in range(conns):
            sockets.append(_request(_open(port, context)))
        time.sleep(1.0)
        after = measure.tree_kb(pair.server.pid, "VmRSS")
    finally:
        for sock in sockets:
            sock.close()
        pair.stop()
    return {"connections": conns, "rss_before_kb": before, "rss_after_kb": after,
            "kb_per_connection": (after - before) / conns}  # fmt: skip


def _open(port: int, context: ssl.SSLContext | None) -> socket.socket:
    raw = socket.create_connection((procs.LOOPBACK, port), timeout=10)
    if context is None:
        return raw
    return context.wrap_socket(raw, server_hostname=mtls_peers.WEB)


def _request(sock: socket.socket) -> socket.socket:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: web:80\r\n\r\n")
    data = b""
    while b"hello world\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed before the response: {data[:200]!r}")
        data += chunk
    return sock


def median_of(records: list[dict[str, Any]], target: str, shape: str, key: str) -> float | None:
    values = [r[key] for r in records if r["target"] == target and r["shape"] == shape]
    return statistics.median(values) if values else None


def per_rep(records: list[dict[str, Any]], shape: str, key: str, fn: Any, a: str, b: str) -> float | None:
    values = []
    for rep in {r["rep"] for r in records}:
        ra = [r[key] for r in records if (r["target"], r["shape"], r["rep"]) == (a, shape, rep)]
        rb = [r[key] for r in records if (r["target"], r["shape"], r["rep"]) == (b, shape, rep)]
        if ra and rb:
            values.append(fn(ra[0], rb[0]))
    return statistics.median(values) if values else None


def summarize(records: list[dict[str, Any]], memory: dict[str, Any]) -> dict[str, Any]:
    sat, fix = loadgen.SATURATION, loadgen.FIXED_RATE
    rows = {}
    for t in TARGETS:
        rows[t] = {
            "sat_rps": median_of(records, t, sat, "rps"),
            "sat_cpu_us_per_req": median_of(records, t, sat, "cpu_us_per_req"),
            "fix_rps": median_of(records, t, fix, "rps"),
            "fix_p50_us": median_of(records, t, fix, "p50_us"),
            "fix_p99_us": median_of(records, t, fix, "p99_us"),
            "added_p99_us": per_rep(records, fix, "p99_us", lambda x, y: x - y, t, "direct"),
            "added_p50_us": per_rep(records, fix, "p50_us", lambda x, y: x - y, t, "direct"),
            "errors": sum(r["error_count"] for r in records if r["target"] == t),
        }
    ratio = lambda x, y: x / y if y else 0.0  # noqa: E731
    return {
        "rows": rows,
        "tls_cost_lightmesh_rps_ratio": per_rep(
            records, sat, "rps", ratio, "lightmesh-mtls", "lightmesh-plain"
        ),
        "tls_cost_haproxy_rps_ratio": per_rep(records, sat, "rps", ratio, "haproxy-tls", "haproxy-plain"),
        "lightmesh_mtls_over_haproxy_tls_rps": per_rep(
            records, sat, "rps", ratio, "lightmesh-mtls", "haproxy-tls"
        ),
        "memory": memory,
    }


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "\u2013" if value is None else format(value, spec)


def render(summary: dict[str, Any]) -> str:
    lines = [
        "| path | rps (c100) | hops' CPU us/req | p50 / p99 at ~1000 req/s"
        " | added p50 / p99 vs direct | errors |",
        "|---|---|---|---|---|---|",
    ]
    for t, row in summary["rows"].items():
        lines.append(
            f"| {t} | {fmt(row['sat_rps'])} | {fmt(row['sat_cpu_us_per_req'], '.1f')} | "
            f"{fmt(row['fix_p50_us'])} / {fmt(row['fix_p99_us'])} us | "
            f"{fmt(row['added_p50_us'])} / {fmt(row['added_p99_us'])} us | {row['errors']} |"
        )
    lines.append("")
    lightmesh_cost = fmt(summary["tls_cost_lightmesh_rps_ratio"], ".2f")
    haproxy_cost = fmt(summary["tls_cost_haproxy_rps_ratio"], ".2f")
    lines.append(
        f"TLS throughput cost (mTLS rps / plaintext rps): lightmesh {lightmesh_cost}, HAProxy {haproxy_cost}"
    )
    lines.append(
        f"lightmesh-mtls / haproxy-tls rps: {fmt(summary['lightmesh_mtls_over_haproxy_tls_rps'], '.2f')}"
    )
    added = summary["rows"]["lightmesh-mtls"]["added_p99_us"]
    verdict = "meets" if added is not None and added <= 1000 else "MISSES"
    lines.append(f"added p99 at ~1000 req/s, two hops with mTLS: {fmt(added)} us ({verdict} the 1 ms target)")
    for target, mem in summary["memory"].items():
        lines.append(f"idle connection memory, {target} (terminating hop, {mem['connections']} connections): "
                     f"{mem['kb_per_connection']:.1f} KB per connection")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, load_cpus = layout(args.layout)
    with tempfile.TemporaryDirectory(prefix="lightmesh-mtls-bench-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            upstream = peers.start_upstream(tmp, load_cpus)
            ctx = Context(tmp, upstream.port)
            ids = mtls_peers.make_identity(tmp)
            scripts = {}
            for shape in loadgen.SHAPES:
                scripts[shape.name] = tmp / f"wrk-host-{shape.name}.lua"
                scripts[shape.name].write_text(HOST_LUA + shape.script)
            records: list[dict[str, Any]] = []
            for rep in range(args.reps):
                for target in TARGETS:
                    records += visit(target, rep, ctx, ids, args, scripts)
            memory = {t: idle_memory(ctx, ids, t, args.idle_conns)
                      for t in ("lightmesh-mtls", "lightmesh-plain", "haproxy-tls")}  # fmt: skip
        finally:
            procs.stop_all()
    summary = summarize(records, memory)
    meta = {"layout": args.layout, "reps": args.reps, "duration_s": args.duration, "time": time.time(),
            "cpus": os.cpu_count()}  # fmt: skip
    out = (
        args.json
        or Path(__file__).resolve().parent / "results" / f"mtls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "summary": summary, "records": records}, indent=2))
    print()
    print(render(summary))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
