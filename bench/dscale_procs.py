"""The destination scale bench's processes: controller, load generator, py-spy.

Each is a :class:`Child` started in its own session, recorded in a module list, and
stopped **by PID** (SIGTERM, SIGKILL after a grace period) by :meth:`Child.stop` or
:func:`stop_all`; nothing else is signalled. The controller is this checkout's
(``<repo>/src`` first on ``PYTHONPATH``): ``python -m lightmesh controller`` for the file
source, ``bench/dscale_pipectl.py`` for the pipe source. The load generator
(``bench/dscale_client.py``) talks over stdin/stdout lines, read by a thread so that
every wait has a timeout.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

from bench import procs

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
_CHILDREN: list[Child] = []


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH")) if p)
    return env


class Child:
    """One process started by the bench; stdout to a pipe (``lines``) or to the log file."""

    def __init__(self, name: str, argv: list[str], log: Path, stdin: bool = False, lines: bool = False):
        self.name, self.argv, self.log = name, argv, log
        self._log: IO[bytes] = open(log, "ab")  # noqa: SIM115 - held until stop()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if lines else self._log,
            stderr=self._log,
            env=child_env(),
            start_new_session=True,
        )
        _CHILDREN.append(self)
        self.lines: queue.Queue[str | None] = queue.Queue()
        if lines:
            threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def send(self, data: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data.encode())
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float) -> str:
        """The next stdout line starting with ``prefix``; RuntimeError on timeout or exit."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.proc.wait(5)}): {self.tail()}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"{self.name}: no '{prefix}' line within {timeout:.0f} s: {self.tail()}")

    def tail(self, limit: int = 600) -> str:
        return " ".join(self.log.read_text(errors="replace").split())[-limit:]

    def finish(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` s for the process to exit by itself, then :meth:`stop` it."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.stop()

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        """Signal by PID, wait ``grace`` s, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(grace)
        self._log.close()
        if self in _CHILDREN:
            _CHILDREN.remove(self)
        return self.proc.returncode


def stop_all() -> None:
    for child in reversed(list(_CHILDREN)):
        child.stop(grace=5.0)


def start_controller(source: str, registry: Path, poll: float, workdir: Path) -> tuple[Child, int, int]:
    """The controller on free loopback ports, ready (``/ready`` 200): it, its API and admin ports."""
    api, admin = procs.free_port(), procs.free_port()
    head = [sys.executable, "-m", "lightmesh", "controller"]
    if source == "pipe":
        head = [sys.executable, str(BENCH / "dscale_pipectl.py")]
    argv = [
        *head, "--registry", str(registry),
        "--proxy-api-addr", f"{procs.LOOPBACK}:{api}", "--admin-addr", f"{procs.LOOPBACK}:{admin}",
        "--registry-poll-interval", str(poll), "--log-level", "info",
    ]  # fmt: skip
    ctl = Child("controller", argv, workdir / "controller.log", stdin=source == "pipe")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ctl.proc.poll() is not None:
            raise RuntimeError(f"controller exited ({ctl.proc.returncode}): {ctl.tail()}")
        if procs.http_status(admin, "/ready") == 200:
            return ctl, api, admin
        time.sleep(0.1)
    ctl.stop()
    raise RuntimeError(f"controller not ready within 60 s: {ctl.tail()}")


def start_client(api_port: int, services: int, streams: int, per_conn: int, workdir: Path) -> Child:
    argv = [
        sys.executable, str(BENCH / "dscale_client.py"), "--addr", f"{procs.LOOPBACK}:{api_port}",
        "--services", str(services), "--streams", str(streams), "--per-conn", str(per_conn),
        "--out", str(workdir / "events.json"), "--deadline", "900",
    ]  # fmt: skip
    return Child("client", argv, workdir / "client.log", stdin=True, lines=True)


def start_pyspy(pid: int, seconds: float, out: Path, workdir: Path) -> Child:
    argv = ["py-spy", "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100"]
    argv += ["--nonblocking", "-f", "raw", "-o", str(out)]
    return Child("py-spy", argv, workdir / "py-spy.log")


def metrics(admin_port: int) -> dict[str, float]:
    """The controller's samples as ``name{k=v,...}`` -> value."""
    url = f"http://{procs.LOOPBACK}:{admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out
