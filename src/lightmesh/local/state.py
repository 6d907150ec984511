"""The state file of a running ``lightmesh up``: ``${LIGHTMESH_STATE_DIR:-~/.lightmesh}/up.json``.

Written (atomically) when ``up`` starts and after every change, removed on shutdown. Other
commands read it to find the mesh: ``lightmesh scale`` its control socket, the observability
commands ``api_addr`` and each instance's admin and tap addresses. A state file whose
``pid`` is no longer running is stale (``up`` was killed) and is replaced by the next ``up``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "up.json"


def state_dir() -> Path:
    return Path(os.environ.get("LIGHTMESH_STATE_DIR") or "~/.lightmesh").expanduser()


def state_path() -> Path:
    return state_dir() / STATE_FILE


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(path: Path | None = None) -> dict[str, Any] | None:
    """The state of the running ``up``, or ``None`` when none runs (no file, or a stale one)."""
    try:
        data = json.loads((path or state_path()).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not pid_alive(data["pid"]):
        return None
    return data


def write_state(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
