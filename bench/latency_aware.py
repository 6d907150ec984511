"""Latency-aware balancing: one slow endpoint of three, peak-EWMA against round-robin.

Three HTTP/1.1 endpoints answer ``GET /`` with their name; one waits 50 ms longer.
The same closed-loop load (``--clients`` keep-alive connections, ``--requests``
each) runs twice in one go:

* through one ``lightmesh proxy`` (outbound, a static destination listing the three);
* straight to the endpoints in round-robin order, which is what a
  connection-unaware balancer would give.

Reported: each endpoint's share of requests and the latency p50/p90/p99::

    python bench/latency_aware.py [--clients 4] [--requests 250] [--delay-ms 50]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.named import NamedServer  # noqa: E402  (a bench peer shared with the tests)
from tests.support.proxy import free_port  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load(targets: list[tuple[str, str]], clients: int, requests: int) -> tuple[Counter[str], list[float]]:
    """``targets``: (address, Host) per request, cycled by each client."""
    seen: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        conns: dict[str, http.client.HTTPConnection] = {}
        for addr, host in itertools.islice(itertools.cycle(targets), offset, offset + requests):
            if addr not in conns:
                h, p = addr.split(":")
                conns[addr] = http.client.HTTPConnection(h, int(p), timeout=30)
            start = time.perf_counter()
            conns[addr].request("GET", "/", headers={"Host": host})
            body = conns[addr].getresponse().read().decode()
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                seen[body] += 1
                latencies.append(elapsed)
        for conn in conns.values():
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return seen, latencies


def _start_proxy(destinations: str) -> tuple[subprocess.Popen[bytes], str]:
    outbound, admin = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIGHTMESH_")},
        "PYTHONPATH": str(ROOT / "src"),
        "RES_OPTIONS": "attempts:0",
        "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"127.0.0.1:{outbound}",
        "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"127.0.0.1:{free_port()}",
        "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"127.0.0.1:{admin}",
        "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"127.0.0.1:{free_port()}",  # own tap port
        "LIGHTMESH_PROXY_STATIC_DESTINATIONS": destinations,
        "LIGHTMESH_PROXY_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "lightmesh", "proxy"], env=env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1):
                return proc, f"127.0.0.1:{outbound}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("lightmesh proxy did not become ready")


def _row(name: str, seen: Counter[str], latencies: list[float]) -> dict[str, object]:
    total = sum(seen.values())
    return {
        "balancer": name,
        "requests": total,
        "share": {k: round(v / total, 3) for k, v in sorted(seen.items())},
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p90_ms": round(_percentile(latencies, 0.90), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=250, help="per client")
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args()
    with (
        NamedServer("fast-1", 0.001) as fast_1,
        NamedServer("fast-2", 0.001) as fast_2,
        NamedServer("slow", 0.001 + args.delay_ms / 1000) as slow,
    ):
        servers = [fast_1, fast_2, slow]
        proxy, outbound = _start_proxy("svc.bench:80=" + ",".join(s.addr for s in servers))
        try:
            ewma = _row(
                "lightmesh (P2C + peak-EWMA)",
                *_load([(outbound, "svc.bench:80")], args.clients, args.requests),
            )
        finally:
            proxy.terminate()
            proxy.wait(timeout=15)
        rr = _row(
            "round-robin (direct)", *_load([(s.addr, s.addr) for s in servers], args.clients, args.requests)
        )
    print(f"{'balancer':30} {'slow share':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for row in (ewma, rr):
        share = row["share"]
        assert isinstance(share, dict)
        print(
            f"{row['balancer']!s:30} {share.get('slow', 0.0):>10.1%} {row['p50_ms']:>8} "
            f"{row['p90_ms']:>8} {row['p99_ms']:>8}"
        )
    print(json.dumps([ewma, rr]))


if __name__ == "__main__":
    main()
