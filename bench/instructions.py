"""Instructions per proxied HTTP/1.1 request, counted by callgrind (user space only).

Wall-clock benchmarks on a shared 2-core VM are noisy; instruction counts are not,
so this is the number to watch while optimising the hot path. It starts the bench's
nginx upstream, runs ``lightmesh proxy`` (inbound listener forwarding to it) under
``valgrind --tool=callgrind`` twice, sends N1 and then N2 keep-alive requests with
``h2load --h1`` (10 connections), and reports ``(Ir(N2) - Ir(N1)) / (N2 - N1)``, so
start-up and shutdown cancel out::

    python bench/instructions.py                   # 500 and 2500 requests, inbound side
    python bench/instructions.py --side outbound   # the outbound stack: router, balancer, load tracking
    python bench/instructions.py --top 25          # also the costliest functions per request (exclusive)
    python bench/instructions.py --side mesh       # the mTLS mesh path: both proxies of bench/mtls.py
    python bench/instructions.py --side mesh-plain # the same with plaintext HTTP/2 between the proxies
    python bench/instructions.py --side mesh --connections 1  # one request at a time (no batching)
    python bench/instructions.py --side mesh --path /varying  # a response header differs every time

The inbound side forwards to the upstream (``LIGHTMESH_PROXY_INBOUND_FORWARD``); the outbound side
routes by authority: h2load asks for ``http://localhost:PORT/`` and a static destination maps
``localhost:PORT`` to the upstream, so each request goes through the router and the balancer.
The mesh sides start the ``lightmesh-mtls`` (or ``lightmesh-plain``) pair of bench/mtls_peers.py:
a controller (not measured) and both proxies under callgrind; h2load sends HTTP/1.1 with
authority ``web:80`` to the client proxy's outbound listener, which carries each request over
HTTP/2 (mutual TLS for ``mesh``) to the server proxy's inbound listener and on to the upstream.
Each proxy's count and their sum are reported. With 10 connections, the requests of several
clients share the reads and writes of the one HTTP/2 connection between the proxies; with
``--connections 1`` every request has its own (as at ~1000 req/s with think time).

Needs valgrind, h2load (nghttp2-client) and nginx; Linux only, loopback only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import mtls_peers, procs
from bench.peers import Context, lightmesh_argv, start_upstream
from bench.procs import LOOPBACK, Managed

MESH_PROXIES = ("lm-client", "lm-server")


def _count(
    tmp: Path, upstream_port: int, requests: int, tag: str, args: argparse.Namespace
) -> tuple[int, Path]:
    port, out_port, admin_port = procs.free_port(), procs.free_port(), procs.free_port()
    argv, env = lightmesh_argv()
    target = f"http://{LOOPBACK}:{port}{args.path}"
    if args.side == "outbound":
        target = f"http://localhost:{out_port}{args.path}"
        env["LIGHTMESH_PROXY_STATIC_DESTINATIONS"] = f"localhost:{out_port}={LOOPBACK}:{upstream_port}"
    env.update(
        {
            "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"{LOOPBACK}:{port}",
            "LIGHTMESH_PROXY_INBOUND_FORWARD": f"{LOOPBACK}:{upstream_port}",
            "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"{LOOPBACK}:{out_port}",
            "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"{LOOPBACK}:{admin_port}",
            "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"{LOOPBACK}:{procs.free_port()}",  # own tap port
            "LIGHTMESH_PROXY_LOG_LEVEL": "warning",
        }
    )
    out = tmp / f"callgrind-{tag}.out"
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
    proc = Managed(f"lightmesh-{tag}", cmd, tmp / f"lightmesh-{tag}.log").start(None, env=env, cwd=tmp)
    try:
        procs.wait_http_ok(proc, admin_port, "/ready", timeout_s=120.0)
        _load(target, requests, args.connections)
    finally:
        proc.stop(grace_s=60.0)
    return _total(out), out


def _count_mesh(
    ctx: Context, ids: dict[str, Path], requests: int, tag: str, args: argparse.Namespace
) -> dict[str, Path]:
    """Both proxies of the mesh pair under callgrind; returns each proxy's output file."""
    outs = {name: ctx.tmpdir / f"callgrind-{tag}-{name}.out" for name in MESH_PROXIES}

    def wrap(name: str) -> list[str]:
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outs[name]}"]

    pair = mtls_peers.lightmesh_pair(ctx, ids, args.side == "mesh", None, wrap)
    try:
        authority = f":authority: {mtls_peers.HOST}"
        _load(f"http://{LOOPBACK}:{pair.port}{args.path}", requests, args.connections, "-H", authority)
    finally:
        pair.stop(grace_s=60.0)
    return outs


def _load(target: str, requests: int, connections: int, *extra: str) -> None:
    load = ["h2load", "--h1", "-n", str(requests), "-c", str(connections), *extra, target]
    done = subprocess.run(load, capture_output=True, text=True, timeout=600)
    if f"{requests} succeeded" not in done.stdout:
        raise RuntimeError(f"h2load did not succeed:\n{done.stdout[-2000:]}")


def _total(out: Path) -> int:
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {out}")
    return int(match.group(1))


def _mesh(args: argparse.Namespace, tmp: Path, upstream_port: int) -> list[tuple[str, Path, Path]]:
    ctx = Context(tmpdir=tmp, upstream_port=upstream_port)
    ids = mtls_peers.make_identity(tmp) if args.side == "mesh" else {}
    low = _count_mesh(ctx, ids, args.n1, "n1", args)
    high = _count_mesh(ctx, ids, args.n2, "n2", args)
    return [(name, low[name], high[name]) for name in MESH_PROXIES]


def _costs(out: Path) -> dict[str, int]:
    """Exclusive instructions per function (callgrind_annotate, no threshold)."""
    report = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)], capture_output=True, text=True, check=True
    )
    costs: dict[str, int] = {}
    for line in report.stdout.splitlines():
        match = re.match(r"\s*([\d,]+) \([ \d.%]+\)\s+(.*)$", line)
        if match and "PROGRAM TOTALS" not in match.group(2):
            name = re.sub(r"^/tmp/python-build[^ ]*/Python-[\d.]+/", "", match.group(2))
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def _top(low: Path, high: Path, requests: int, count: int) -> str:
    """The ``count`` functions costing most per request (the two runs' difference)."""
    before, after = _costs(low), _costs(high)
    per = {name: (cost - before.get(name, 0)) / requests for name, cost in after.items()}
    ranked = sorted(per.items(), key=lambda item: -item[1])[:count]
    return "\n".join(f"{value:10,.0f}  {name[:150]}" for name, value in ranked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=500)
    parser.add_argument("--n2", type=int, default=2500)
    parser.add_argument("--top", type=int, default=0, help="show the N costliest functions per request")
    sides = ("inbound", "outbound", "mesh", "mesh-plain")
    parser.add_argument("--side", choices=sides, default="inbound", help="which stack")
    parser.add_argument("--connections", type=int, default=10, help="h2load client connections")
    parser.add_argument(
        "--path", default="/", help="request path; /varying: a response header that differs every time"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lightmesh-ir-") as name:
        tmp = Path(name)
        upstream = start_upstream(tmp, None)
        try:
            if args.side.startswith("mesh"):
                runs = _mesh(args, tmp, upstream.port)
            else:
                _, low = _count(tmp, upstream.port, args.n1, "n1", args)
                _, high = _count(tmp, upstream.port, args.n2, "n2", args)
                runs = [("lightmesh", low, high)]
        finally:
            upstream.stop()
            procs.stop_all()
        requests = args.n2 - args.n1
        per = {label: (_total(high) - _total(low)) / requests for label, low, high in runs}
        counted = f"{args.n1} vs {args.n2} requests, {args.connections} connections"
        parts = (
            " = " + ", ".join(f"{label} {v / 1000:.1f}k" for label, v in per.items()) if len(per) > 1 else ""
        )
        print(f"instructions per request, {args.side}: {sum(per.values()) / 1000:.1f}k{parts} ({counted})")
        for label, low, high in runs if args.top else []:
            print(f"{label}, per request (exclusive):\n{_top(low, high, requests, args.top)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
