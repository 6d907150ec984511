"""What service profiles cost: the outbound proxy with no profile, with routes, with retries.

One nginx upstream (``/`` answers 200; ``/flaky`` answers 503 to about 10 % of requests,
picked by ``split_clients`` on the request id), one ``lightmesh controller`` over a
registry file, one ``lightmesh proxy`` following it, and wrk (``-t1 -c50``, closed loop)
against the proxy's outbound listener with ``Host: <service>:80``. Scenarios, each on its
own service so the proxy holds all of them at once:

* ``none``: a service without a profile (the common case; the baseline);
* ``route``: a profile whose route matches, not retryable (matching and route metrics);
* ``retryable``: a retryable route, no failures (plus the body buffer and the budget);
* ``retry-10%``: a retryable route on ``/flaky`` (about 10 % of attempts retried).

``--micro`` measures instead, in process and without sockets, the CPU time per request
of the route layers themselves over an upstream that answers at once (fake, 1 µs): a
figure that a loaded machine does not blur.

The scenarios are interleaved over ``--reps`` repetitions of ``--duration`` seconds.
For each: requests per second, p50 and p99 latency, the client's success share and the
extra upstream load (``route_actual_request_total / route_request_total - 1``). JSON goes
to ``bench/results/retry-<time>.json``.

    PYTHONPATH=src python -m bench.retry_overhead --reps 3 --duration 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import loadgen, procs
from bench.peers import REPO_ROOT, _start_nginx, lightmesh_argv
from bench.procs import LOOPBACK, Managed

SCENARIOS = {"none": ("plain", "/"), "route": ("routed", "/"), "retryable": ("retried", "/"),
             "retry-10%": ("retried", "/flaky")}  # fmt: skip
PROFILES = """profiles:
  - name: routed
    namespace: default
    routes: [{name: all, condition: {pathPrefix: /}}]
  - name: retried
    namespace: default
    retryBudget: {retryRatio: 0.5}
    routes: [{name: all, condition: {pathPrefix: /}, isRetryable: true}]
"""


def upstream(tmp: Path) -> int:
    port = procs.free_port()
    body = f"""  split_clients "${{request_id}}" $fail {{ 10% 1; * 0; }}
  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location = /flaky {{ if ($fail) {{ return 503 "fail\\n"; }} return 200 "hello world\\n"; }}
    location / {{ return 200 "hello world\\n"; }}
  }}"""
    _start_nginx(tmp, "upstream", port, body, None)
    return port


def registry(tmp: Path, upstream_port: int) -> Path:
    lines = ["services:"]
    for name in ("plain", "routed", "retried"):
        lines.append(f"  - {{name: {name}, namespace: default, port: 80, "
                     f"endpoints: [{{address: '{LOOPBACK}:{upstream_port}'}}]}}")  # fmt: skip
    path = tmp / "registry.yaml"
    path.write_text("\n".join(lines) + "\n" + PROFILES)
    return path


def start_mesh(tmp: Path, reg: Path) -> tuple[int, int]:
    """(outbound port, admin port) of a proxy following a controller over ``reg``."""
    argv, env = lightmesh_argv()
    api, ctl_admin = procs.free_port(), procs.free_port()
    controller_argv = [*argv[:-1], "controller"] if argv[-1] == "proxy" else argv
    flags = ["--registry", str(reg), "--proxy-api-addr", f"{LOOPBACK}:{api}"]
    flags += ["--admin-addr", f"{LOOPBACK}:{ctl_admin}"]
    controller = Managed("controller", [*controller_argv, *flags], tmp / "controller.log")
    controller.start(None, env=env, cwd=tmp)
    procs.wait_http_ok(controller, ctl_admin, "/ready", timeout_s=30.0)
    out, admin, inbound = procs.free_port(), procs.free_port(), procs.free_port()
    env = {
        **env,
        "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"{LOOPBACK}:{out}",
        "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"{LOOPBACK}:{admin}",
        "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"{LOOPBACK}:{procs.free_port()}",  # own tap port
        "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"{LOOPBACK}:{inbound}",
        "LIGHTMESH_PROXY_CONTROLLER_ADDR": f"{LOOPBACK}:{api}",
        "LIGHTMESH_PROXY_LOG_LEVEL": "warning",
    }
    proxy = Managed("lightmesh", argv, tmp / "lightmesh.log")
    proxy.start(None, env=env, cwd=tmp)
    procs.wait_http_ok(proxy, admin, "/ready", timeout_s=30.0)
    return out, admin


def metric(admin: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wrk(port: int, service: str, path: str, script: Path, duration: float) -> dict[str, Any]:
    argv = ["wrk", "-t1", "-c50", f"-d{duration:g}s", "--timeout", "5s", "-s", str(script),
            "-H", f"Host: {service}:80", f"http://{LOOPBACK}:{port}{path}"]  # fmt: skip
    done = procs.run_bounded(argv, None, timeout_s=duration + 30)
    record = loadgen._parse(done.stdout)
    if record is None:
        raise RuntimeError(f"wrk failed: {done.stderr[-300:]}")
    record["rps"] = record["requests"] / max(record["duration_us"] / 1e6, 1e-9)
    return record


def micro(n: int = 50_000) -> None:
    """CPU µs per request through the route layers (in process, fake upstream)."""
    import asyncio
    import random

    from lightmesh.core.budget import RetryBudget
    from lightmesh.core.routes import Budget, PathPrefix, Profile, Route
    from lightmesh.protocol.messages import NO_BODY, BytesBody, Request, Response
    from lightmesh.proxy.layers.retry import retry_layer
    from lightmesh.proxy.layers.route import route_layer
    from lightmesh.proxy.routestats import RouteTable
    from lightmesh.proxy.service import Service, stack

    async def upstream(request: Request) -> Response:
        return Response(200, [], BytesBody(b"hello world\n"))

    def routed(retryable: bool) -> Service:
        profile = Profile((Route("all", PathPrefix(b"/"), retryable=retryable),), Budget(), False)
        return stack(upstream, retry_layer(RetryBudget()), route_layer(profile, "web:80", RouteTable()))

    async def per_request(service: Service, count: int) -> float:
        headers = [(b"host", b"web:80"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
        start = time.process_time()
        for _ in range(count):
            response = await service(Request(b"GET", b"/users/1", list(headers), NO_BODY, b"web:80"))
            response.finish(None)
        return (time.process_time() - start) / count * 1e6

    async def run() -> None:
        for name, service in (("none", upstream), ("route", routed(False)), ("retryable", routed(True))):
            await per_request(service, 2000)
            best = min([await per_request(service, n) for _ in range(3)])
            print(f"{name:<12} {best:6.2f} µs CPU per request")

    random.seed(0)
    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--micro", action="store_true", help="CPU per request of the route layers only")
    args = parser.parse_args()
    if args.micro:
        micro()
        return 0
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="lightmesh-retry-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            out, admin = start_mesh(tmp, registry(tmp, upstream(tmp)))
            script = loadgen.write_scripts(tmp)[loadgen.SATURATION]
            for service, path in SCENARIOS.values():  # warm up every destination
                wrk(out, service, path, script, 1.0)
            for _ in range(args.reps):
                for name, (service, path) in SCENARIOS.items():
                    before = {k: metric(admin, k, dst=f"{service}:80") for k in
                              ("route_request_total", "route_actual_request_total")}  # fmt: skip
                    record = wrk(out, service, path, script, args.duration)
                    after = {k: metric(admin, k, dst=f"{service}:80") - v for k, v in before.items()}
                    if after["route_request_total"]:
                        record["extra_load"] = (
                            after["route_actual_request_total"] / after["route_request_total"] - 1
                        )
                    record["success"] = 1 - record["errors"]["status"] / max(record["requests"], 1)
                    results[name].append(record)
        finally:
            procs.stop_all()
    print(f"{'scenario':<12} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'success':>8} {'extra load':>10}")
    for name, records in results.items():
        rps = sorted(r["rps"] for r in records)[len(records) // 2]
        p50 = sorted(r["p50_us"] for r in records)[len(records) // 2] / 1000
        p99 = sorted(r["p99_us"] for r in records)[len(records) // 2] / 1000
        success = min(r["success"] for r in records)
        extra = max((r.get("extra_load", 0.0) for r in records), default=0.0)
        print(f"{name:<12} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f} {success:>8.2%} {extra:>10.1%}")
    out_dir = REPO_ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"retry-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
