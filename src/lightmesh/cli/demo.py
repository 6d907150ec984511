"""``lightmesh demo``: a sample app behind a ``lightmesh proxy``, ready to curl.

Starts two child processes, the sample app and a proxy whose inbound side fronts
it and whose outbound side knows the app as ``sample.demo:80``, waits until the
proxy is ready, prints what to try, and stops both (SIGTERM, by PID) on Ctrl-C or
after ``--duration``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import typer


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}")  # type: ignore[arg-type]
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def run_demo(app_port: int, inbound: int, outbound: int, admin: int, duration: float | None) -> int:
    busy = [p for p in (app_port, inbound, outbound, admin) if not _port_free(p)]
    if busy:
        typer.echo(
            f"lightmesh demo: port(s) {', '.join(map(str, busy))} already in use on 127.0.0.1; "
            "pass other ports (see --help)",
            err=True,
        )
        return 1
    env = {
        **os.environ,
        "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"127.0.0.1:{inbound}",
        "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"127.0.0.1:{outbound}",
        "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"127.0.0.1:{admin}",
        "LIGHTMESH_PROXY_INBOUND_FORWARD": f"127.0.0.1:{app_port}",
        # down.demo points at a closed port, to show a 502 and its reason
        "LIGHTMESH_PROXY_STATIC_DESTINATIONS": f"sample.demo:80=127.0.0.1:{app_port};"
        "down.demo:80=127.0.0.1:1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen([sys.executable, "-m", "lightmesh.demo.sample_app", "--port", str(app_port)])
        )
        procs.append(subprocess.Popen([sys.executable, "-m", "lightmesh", "proxy"], env=env))
        _wait_ready(f"http://127.0.0.1:{admin}/ready", procs)
        _print_banner(app_port, inbound, outbound, admin)
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                typer.echo("lightmesh demo: a child process exited; stopping", err=True)
                return 1
            time.sleep(0.2)
        return 0
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        typer.echo(f"lightmesh demo: {exc}", err=True)
        return 1
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _print_banner(app: int, inbound: int, outbound: int, admin: int) -> None:
    typer.echo(f"""
lightmesh demo is running (Ctrl-C stops it)
  sample app        http://127.0.0.1:{app}
  proxy inbound     http://127.0.0.1:{inbound}   mesh -> app
  proxy outbound    127.0.0.1:{outbound}          app -> mesh (use as http_proxy)
  proxy admin       http://127.0.0.1:{admin}/metrics

Try:
  curl -s http://127.0.0.1:{inbound}/hello
  curl -s -x http://127.0.0.1:{outbound} http://sample.demo/echo
  curl -s -i http://127.0.0.1:{inbound}/status/503
  curl -s -i -x http://127.0.0.1:{outbound} http://down.demo/        (endpoint down: 502 and why)
  curl -s http://127.0.0.1:{admin}/metrics | grep -E '^(request|response)_total'
""")
