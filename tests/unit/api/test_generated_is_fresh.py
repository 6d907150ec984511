"""The committed generated code (src/lightmesh/api/gen) matches proto/*.proto.

``scripts/gen_proto.sh`` regenerates into a temporary directory, and every file must be
identical to the committed one, with none missing or extra. When this fails, run
``scripts/gen_proto.sh`` and commit the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GEN = ROOT / "src" / "lightmesh" / "api" / "gen"
HINT = "the generated code is stale: run scripts/gen_proto.sh"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "RES_OPTIONS": "attempts:0"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"scripts/gen_proto.sh failed:\n{result.stdout}{result.stderr}"
    fresh, committed = _files(tmp_path), _files(GEN)
    assert sorted(fresh) == sorted(committed), (
        f"{HINT} (files differ: {sorted(fresh)} vs {sorted(committed)})"
    )
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"{HINT} ({', '.join(stale)} differ)"
