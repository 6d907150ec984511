"""Process plumbing: free ports, CPU pinning, start/stop by PID, readiness probes.

Every process the harness starts goes through `Managed.start`, is recorded in a
module-level registry, and is stopped by PID (SIGTERM, then SIGKILL after a
grace period) by `Managed.stop` or `stop_all`. Nothing else is ever signalled.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench import measure

LOOPBACK = "127.0.0.1"
_REGISTRY: list[Managed] = []


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    """Return a preexec_fn that pins the child (like `taskset -c`), or None."""
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


@dataclass
class Managed:
    """One child process started by the harness."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    descendants: set[int] = field(default_factory=set)
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(
        self, cpus: set[int] | None, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Managed:
        """Spawn the process pinned to `cpus`, stdout+stderr into log_path."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - held until stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=_pinner(cpus),
            start_new_session=True,
        )
        _REGISTRY.append(self)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def remember_tree(self) -> None:
        """Record current descendants so they can be reaped if the parent dies first."""
        if self.alive():
            self.descendants |= set(measure.process_tree(self.pid)) - {self.pid}

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process by PID, SIGKILL after grace_s; then its old children."""
        if self.proc is None:
            return
        self.remember_tree()
        if self.proc.poll() is None:
            _signal(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=grace_s)
        _reap_leftovers(self.descendants, grace_s)
        if self._log is not None:
            self._log.close()
        if self in _REGISTRY:
            _REGISTRY.remove(self)

    def log_tail(self, limit: int = 400) -> str:
        """Last `limit` characters of the process log, on one line."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " ".join(text.split())[-limit:]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap_leftovers(pids: set[int], grace_s: float) -> None:
    """Kill (by PID) descendants of a stopped process that outlived it."""
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if measure.pid_alive(p)}
        if pids:
            time.sleep(0.05)
    for pid in pids:
        _signal(pid, signal.SIGKILL)


def stop_all() -> None:
    """Stop every process still registered, newest first."""
    for managed in reversed(list(_REGISTRY)):
        managed.stop()


def http_status(port: int, path: str = "/", timeout: float = 1.0) -> int | None:
    """GET http://127.0.0.1:port/path and return the status, or None on error."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_http_ok(managed: Managed, port: int, path: str = "/", timeout_s: float = 20.0) -> None:
    """Poll until GET returns 200; raise RuntimeError with the log tail otherwise."""
    deadline = time.monotonic() + timeout_s
    last: int | None = None
    while time.monotonic() < deadline:
        if not managed.alive():
            code = managed.proc.returncode if managed.proc else None
            raise RuntimeError(f"exited with code {code}: {managed.log_tail()}")
        last = http_status(port, path)
        if last == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"GET {path} on port {port} not 200 after {timeout_s:.0f} s "
        f"(last status {last}): {managed.log_tail()}"
    )


def run_bounded(
    argv: Sequence[str], cpus: set[int] | None, timeout_s: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short-lived command pinned to `cpus`; kill it by PID on timeout."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        preexec_fn=_pinner(cpus),
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n[bench] killed after {timeout_s:.0f} s"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
