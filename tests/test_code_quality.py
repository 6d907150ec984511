"""Lint, types and layering are part of the test suite.

ruff (lint and format), ``mypy --strict`` on ``src/`` and the import-linter
contracts in pyproject.toml (sans-I/O core/protocol, downward imports only, no CLI
libraries in the proxy process) each run as a subprocess; a failure prints the tool's
own report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"


def test_ruff_lint_passes() -> None:
    _run(sys.executable, "-m", "ruff", "check", "src", "tests", "bench")


def test_ruff_format_is_applied() -> None:
    _run(sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "bench")


def test_mypy_strict_passes_on_src() -> None:
    _run(sys.executable, "-m", "mypy")


def test_import_layers_hold() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports (import-linter) is not installed")
    _run(lint_imports)
