"""Running a real ``lightmesh up`` (or ``lightmesh demo``) process for integration tests.

:class:`UpProcess` starts the command with its own ``LIGHTMESH_STATE_DIR`` (so tests never
touch ``~/.lightmesh``), its output in a log file, and reads the state file ``up.json`` to
find the instances. :meth:`UpProcess.stop` sends SIGINT, like Ctrl-C, and waits.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 60.0
_RUNS = itertools.count()


def wait_for(
    what: str, check: Callable[[], Any], timeout: float = TIMEOUT, log: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class UpProcess:
    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.dir = tmp
        self.state_dir = tmp / "state"
        self.log_path = tmp / f"{args[0] if args else 'lightmesh'}-{next(_RUNS)}.log"  # one per process
        self.args = args
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LIGHTMESH_")},
            "LIGHTMESH_STATE_DIR": str(self.state_dir),
            "RES_OPTIONS": "attempts:0",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen_pids: set[int] = set()

    def start(self) -> UpProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lightmesh", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.dir,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def state(self) -> dict[str, Any] | None:
        try:
            state = json.loads((self.state_dir / "up.json").read_text())
        except (OSError, ValueError):
            return None
        self._remember(state)
        return state

    def _remember(self, state: dict[str, Any]) -> None:
        for pid in [
            state.get("controller_pid"),
            *(p for i in state["instances"] for p in (i["app_pid"], i["proxy_pid"])),
        ]:
            if isinstance(pid, int):
                self.seen_pids.add(pid)

    def wait_ready(self, count: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"lightmesh exited with {self.proc.returncode}:\n{self.log()}")
            state = self.state()
            if (
                state
                and state["pid"] == self.proc.pid
                and sum(i["ready"] for i in state["instances"]) == count == len(state["instances"])
            ):
                return state
            return None

        state: dict[str, Any] = wait_for(f"{count} ready instances", ready, timeout, self.log)
        # the controller reads the registry every 0.2 s, so it can trail the state file: wait for it too
        admin = state["controller_admin_addr"]
        wait_for(
            f"the controller to know {count} endpoints",
            lambda: metric(admin, "registry_endpoints") == count,
            timeout,
            self.log,
        )
        return state

    def instances(self, service: str) -> list[dict[str, Any]]:
        state = self.state()
        assert state is not None
        return [i for i in state["instances"] if i["service"] == service]

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"lightmesh did not stop within {timeout}s:\n{self.log()}") from None

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


def http_get(url: str, proxy: str | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    handlers = [urllib.request.ProxyHandler({"http": f"http://{proxy}"} if proxy else {})]
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metric(admin_addr: str, name: str, **labels: str) -> float:
    """Sum of the samples ``name`` on a proxy's ``/metrics`` whose labels include ``labels``."""
    text = http_get(f"http://{admin_addr}/metrics")[1].decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
