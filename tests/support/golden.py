"""Golden files for CLI output under ``tests/golden/``.

``assert_golden(name, text)`` compares ``text`` with ``tests/golden/<name>``. Run the
tests with ``LIGHTMESH_UPDATE_GOLDEN=1`` to (re)write the files after a deliberate change,
then review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LIGHTMESH_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with LIGHTMESH_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path} (LIGHTMESH_UPDATE_GOLDEN=1 rewrites it)"
