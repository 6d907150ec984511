"""Running the ``lightmesh`` CLI as a process for integration tests.

:func:`run_cli` runs a command to completion (bounded). :class:`CliProcess` starts a
long-running command (``tap``, ``top``) whose stdout a thread reads into a queue, so a
test can wait for lines with bounded waits and stop it by PID.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from typing import IO


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTMESH_")}
    env["RES_OPTIONS"] = "attempts:0"
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightmesh", *args],
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=timeout,
        check=False,
    )


class CliProcess:
    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lightmesh", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(**env),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout: float = 0.1) -> str | None:
        """The next line, or ``None`` when none came within ``timeout`` (or output ended)."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait(self, timeout: float = 30.0) -> tuple[int, str]:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"lightmesh {self.proc.args} did not end within {timeout}s") from None
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        return self.proc.returncode, stderr

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
