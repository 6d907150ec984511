"""Instructions per proxied HTTP/1.1 request, counted by callgrind (user space only).

Wall-clock benchmarks on a shared 2-core VM are noisy; instruction counts are not,
so this is the number to watch while optimising the hot path. It starts the bench's
nginx upstream, runs ``lightmesh proxy`` (inbound listener forwarding to it) under
``valgrind --tool=callgrind`` twice, sends N1 and then N2 keep-alive requests with
``h2load --h1`` (10 connections), and reports ``(Ir(N2) - Ir(N1)) / (N2 - N1)``, so
start-up and shutdown cancel out::

    python bench/instructions.py               # 500 and 2500 requests
    python bench/instructions.py --top 25      # also the costliest functions (exclusive)

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


def _count(tmp: Path, upstream_port: int, requests: int, tag: str) -> tuple[int, Path]:
    port, out_port, admin_port = procs.free_port(), procs.free_port(), procs.free_port()
    argv, env = lightmesh_argv()
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
        load = ["h2load", "--h1", "-n", str(requests), "-c", "10", f"http://{LOOPBACK}:{port}/"]
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lightmesh-ir-") as name:
        tmp = Path(name)
        upstream = start_upstream(tmp, None)
        try:
            low, _ = _count(tmp, upstream.port, args.n1, "n1")
            high, out = _count(tmp, upstream.port, args.n2, "n2")
        finally:
            upstream.stop()
            procs.stop_all()
        per_request = (high - low) / (args.n2 - args.n1)
        print(f"instructions per request: {per_request / 1000:.1f}k ({args.n1} vs {args.n2} requests)")
        if args.top:
            report = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True)
            lines = [line for line in report.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", line)]
            print("\n".join(lines[: args.top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
