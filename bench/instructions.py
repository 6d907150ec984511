"""Instructions per proxied HTTP/1.1 request, counted by callgrind (user space only).

Wall-clock benchmarks on a shared 2-core VM are noisy; instruction counts are not,
so this is the number to watch while optimising the hot path. It starts the bench's
nginx upstream, runs ``lightmesh proxy`` (inbound listener forwarding to it) under
``valgrind --tool=callgrind`` twice, sends N1 and then N2 keep-alive requests with
``h2load --h1`` (10 connections), and reports ``(Ir(N2) - Ir(N1)) / (N2 - N1)``, so
start-up and shutdown cancel out::

    python bench/instructions.py                   # 500 and 2500 requests, inbound side
    python bench/instructions.py --side outbound   # the outbound stack: router, balancer, load tracking
    python bench/instructions.py --top 25          # also the costliest functions (exclusive)

The inbound side forwards to the upstream (``LIGHTMESH_PROXY_INBOUND_FORWARD``); the outbound side
routes by authority: h2load asks for ``http://localhost:PORT/`` and a static destination maps
``localhost:PORT`` to the upstream, so each request goes through the router and the balancer.

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

from bench import procs
from bench.peers import lightmesh_argv, start_upstream
from bench.procs import LOOPBACK, Managed


def _count(tmp: Path, upstream_port: int, requests: int, tag: str, side: str) -> tuple[int, Path]:
    port, out_port, admin_port = procs.free_port(), procs.free_port(), procs.free_port()
    argv, env = lightmesh_argv()
    target = f"http://{LOOPBACK}:{port}/"
    if side == "outbound":
        target = f"http://localhost:{out_port}/"
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
        load = ["h2load", "--h1", "-n", str(requests), "-c", "10", target]
        done = subprocess.run(load, capture_output=True, text=True, timeout=600)
        if f"{requests} succeeded" not in done.stdout:
            raise RuntimeError(f"h2load did not succeed:\n{done.stdout[-2000:]}")
    finally:
        proc.stop(grace_s=60.0)
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {out}")
    return int(match.group(1)), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=500)
    parser.add_argument("--n2", type=int, default=2500)
    parser.add_argument("--top", type=int, default=0, help="show the N costliest functions of the N2 run")
    parser.add_argument("--side", choices=("inbound", "outbound"), default="inbound", help="which stack")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lightmesh-ir-") as name:
        tmp = Path(name)
        upstream = start_upstream(tmp, None)
        try:
            low, _ = _count(tmp, upstream.port, args.n1, "n1", args.side)
            high, out = _count(tmp, upstream.port, args.n2, "n2", args.side)
        finally:
            upstream.stop()
            procs.stop_all()
        per_request = (high - low) / (args.n2 - args.n1)
        counted = f"{args.n1} vs {args.n2} requests"
        print(f"instructions per request, {args.side}: {per_request / 1000:.1f}k ({counted})")
        if args.top:
            report = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True)
            lines = [line for line in report.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", line)]
            print("\n".join(lines[: args.top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
