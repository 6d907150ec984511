"""The CLI finds the public API: flag, then env, then a live ``lightmesh up``, then the default."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lightmesh.cli.target import DEFAULT_API_ADDR, api_addr


def _up(state: Path, pid: int, addr: str = "127.0.0.1:18085") -> dict[str, str]:
    state.mkdir(exist_ok=True)
    (state / "up.json").write_text(json.dumps({"pid": pid, "api_addr": addr}))
    return {"LIGHTMESH_STATE_DIR": str(state)}


def test_the_flag_wins(tmp_path: Path) -> None:
    env = {**_up(tmp_path, os.getpid()), "LIGHTMESH_API_ADDR": "127.0.0.1:1"}
    assert api_addr("127.0.0.1:2", env).addr == "127.0.0.1:2"


def test_then_the_environment(tmp_path: Path) -> None:
    env = {**_up(tmp_path, os.getpid()), "LIGHTMESH_API_ADDR": "127.0.0.1:1"}
    assert api_addr(None, env).addr == "127.0.0.1:1"


def test_then_a_running_lightmesh_up(tmp_path: Path) -> None:
    target = api_addr(None, _up(tmp_path, os.getpid()))
    assert target.addr == "127.0.0.1:18085"
    assert "lightmesh up" in target.source


def test_a_dead_lightmesh_up_is_ignored(tmp_path: Path) -> None:
    assert api_addr(None, _up(tmp_path, 2**22 + 12345)).addr == DEFAULT_API_ADDR


def test_a_broken_state_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "up.json").write_text("{not json")
    assert api_addr(None, {"LIGHTMESH_STATE_DIR": str(tmp_path)}).addr == DEFAULT_API_ADDR


def test_a_malformed_address_names_its_source() -> None:
    with pytest.raises(ValueError, match="LIGHTMESH_API_ADDR"):
        api_addr(None, {"LIGHTMESH_API_ADDR": "nowhere"})
