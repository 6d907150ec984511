"""Where the CLI finds the control plane's public API.

:func:`api_addr` decides, in order: the ``--api-addr`` flag; the
``LIGHTMESH_API_ADDR`` environment variable; the ``api_addr`` recorded in the state
file of a ``lightmesh up`` running on this machine
(``${LIGHTMESH_STATE_DIR:-~/.lightmesh}/up.json``, ignored when its ``pid`` is not a
live process); else ``127.0.0.1:8085``. It returns where the address came from too,
so "nothing answers" errors can say what was tried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from lightmesh.core.addr import parse_socket_addr

DEFAULT_API_ADDR = "127.0.0.1:8085"
STATE_FILE = "up.json"


class Target(NamedTuple):
    addr: str
    source: str  # how it was found, for error messages


def state_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("LIGHTMESH_STATE_DIR") or "~/.lightmesh").expanduser() / STATE_FILE


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def running_up(env: Mapping[str, str]) -> dict[str, object] | None:
    """The state of a live ``lightmesh up`` on this machine, or ``None``."""
    try:
        data = json.loads(state_path(env).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not pid_alive(data["pid"]):
        return None
    return data


def api_addr(flag: str | None, env: Mapping[str, str] | None = None) -> Target:
    """The public API address to use; ``ValueError`` when the chosen one is malformed."""
    env = os.environ if env is None else env
    if flag:
        return _checked(flag, "--api-addr")
    if env.get("LIGHTMESH_API_ADDR"):
        return _checked(env["LIGHTMESH_API_ADDR"], "LIGHTMESH_API_ADDR")
    up = running_up(env)
    if up is not None and isinstance(up.get("api_addr"), str):
        return _checked(str(up["api_addr"]), f"lightmesh up (pid {up['pid']}, {state_path(env)})")
    return Target(DEFAULT_API_ADDR, "the default")


def _checked(addr: str, source: str) -> Target:
    try:
        parse_socket_addr(addr)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return Target(addr, source)
