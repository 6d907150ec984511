"""A supervised child process: started in its own process group, restarted with backoff.

:class:`Supervised` runs one command (an app, a sidecar or the controller) with its output
appended to a log file. When it exits while it should run, it is restarted after a backoff
that doubles from :data:`BACKOFF_MIN` to :data:`BACKOFF_MAX` and starts over once a run
lasted :data:`STABLE_AFTER`; from :data:`CRASH_LOOP` exits in a row on, the report says
it is crash-looping and quotes the end of its log. :meth:`Supervised.stop` sends SIGTERM
to the whole process group (so a shell's children go too), then SIGKILL after a grace
period: nothing outlives ``lightmesh up``. Children also get SIGKILL if ``up`` itself is
killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0
CRASH_LOOP = 3
STOP_GRACE = 10.0
PR_SET_PDEATHSIG = 1

Report = Callable[[str], None]


def _prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _prctl()  # looked up here: the child between fork and exec only calls it


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join("      | " + line for line in text.splitlines()[-lines:])


class Backoff:
    """The delay before each restart: doubling while runs are short, reset by a stable one."""

    def __init__(self) -> None:
        self.delay = BACKOFF_MIN
        self.crashes = 0  # exits in a row, each after a run shorter than STABLE_AFTER

    def after_exit(self, ran: float) -> float:
        """Record an exit after ``ran`` seconds; returns how long to wait before restarting."""
        if ran >= STABLE_AFTER:
            self.delay, self.crashes = BACKOFF_MIN, 0
        self.crashes += 1
        delay = self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX)
        return delay


class Supervised:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        report: Report,
        on_start: Callable[[], None] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.report = report
        self.on_start = on_start
        self.on_exit = on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.backoff = Backoff()
        self.restarts = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _spawn(self) -> asyncio.subprocess.Process:
        with _open_log(self.log_path) as log:
            return await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    async def _run(self) -> None:
        while not self._stopping:
            started = time.monotonic()
            try:
                self.proc = await self._spawn()
            except OSError as exc:
                code: int | str = f"cannot start: {exc}"
            else:
                if self.on_start is not None:
                    self.on_start()
                code = await self.proc.wait()
                if self.on_exit is not None:
                    self.on_exit()
            if self._stopping:
                return
            ran = time.monotonic() - started
            delay = self.backoff.after_exit(ran)
            self.restarts += 1
            self._report_exit(code, ran, delay)
            await asyncio.sleep(delay)

    def _report_exit(self, code: int | str, ran: float, backoff: float) -> None:
        why = code if isinstance(code, str) else _exit_reason(code)
        crashes = self.backoff.crashes
        if crashes >= CRASH_LOOP:
            self.report(
                f"{self.name} is crash-looping: {why}, {crashes} times in a row; "
                f"restarting in {backoff:g}s. Last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )
        else:
            self.report(
                f"{self.name} {why} after {ran:.1f}s; restarting in {backoff:g}s (log: {self.log_path})"
            )

    async def stop(self, grace: float = STOP_GRACE) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                self.report(f"{self.name} did not stop within {grace:g}s; killing it")
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        # the group may hold children of a shell command that outlived it
        if proc is not None:
            _signal_group(proc.pid, signal.SIGKILL)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _open_log(path: Path) -> BinaryIO:
    return open(path, "ab")  # small local file: opening it does not block the loop


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
