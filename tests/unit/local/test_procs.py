"""Restart backoff and exit reasons of supervised processes."""

from __future__ import annotations

from pathlib import Path

from lightmesh.local.procs import BACKOFF_MAX, Backoff, _exit_reason, log_tail


def test_the_backoff_doubles_while_runs_are_short_up_to_its_ceiling() -> None:
    backoff = Backoff()
    delays = [backoff.after_exit(0.1) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.crashes == 9 and max(delays) == BACKOFF_MAX


def test_a_stable_run_resets_the_backoff_and_the_crash_count() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.after_exit(1.0)
    assert backoff.after_exit(10.0) == 0.5
    assert backoff.crashes == 1
    assert backoff.after_exit(1.0) == 1.0


def test_exit_reasons_name_signals_and_codes() -> None:
    assert _exit_reason(3) == "exited with code 3"
    assert _exit_reason(-9) == "was killed by SIGKILL"
    assert _exit_reason(-200) == "was killed by signal 200"


def test_the_log_tail_quotes_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(20)))
    assert log_tail(log, 2) == "      | line 18\n      | line 19"
    assert log_tail(tmp_path / "missing.log") == ""
