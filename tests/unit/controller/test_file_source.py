"""The file source: reloads on change, refuses bad edits once and keeps the last good state."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lightmesh.controller.directory import Directory
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.registry import RegistryError
from lightmesh.controller.sources.file import FileRegistrySource

ONE = "services: [{name: web, namespace: default, port: 80, endpoints: [{address: 10.0.0.1:80}]}]\n"
TWO = "services: [{name: web, namespace: default, port: 80, endpoints: [{address: 10.0.0.2:80}]}]\n"
KEY = "web.default.svc.cluster.local:80"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, FileRegistrySource, Directory, ControllerStats]:
    path = tmp_path / "mesh-registry.yaml"
    path.write_text(ONE)
    stats = ControllerStats()
    source = FileRegistrySource(path, stats)
    directory = Directory()
    directory.replace_all(source.load())
    return path, source, directory, stats


def hosts(directory: Directory) -> list[str]:
    service = directory.get(KEY)
    return [a.host for a in service.endpoints] if service else []


def test_a_changed_file_is_applied_and_an_unchanged_one_is_not_reparsed(
    setup: tuple[Path, FileRegistrySource, Directory, ControllerStats],
) -> None:
    path, source, directory, stats = setup
    assert stats.reloads == 1
    assert source.poll(directory) is False
    path.write_text(TWO)  # same size, possibly the same mtime: the bytes decide
    assert source.poll(directory) is True
    assert hosts(directory) == ["10.0.0.2"]
    assert (stats.reloads, stats.reload_errors) == (2, 0)


def test_a_bad_edit_keeps_the_last_good_state_and_is_reported_once(
    setup: tuple[Path, FileRegistrySource, Directory, ControllerStats], caplog: pytest.LogCaptureFixture
) -> None:
    path, source, directory, stats = setup
    path.write_text("services: [{name: web, namespace: default, port: 80, endpoints: [{address: nope}]}]\n")
    with caplog.at_level(logging.WARNING):
        assert source.poll(directory) is False
        assert source.poll(directory) is False
    assert hosts(directory) == ["10.0.0.1"]
    assert stats.reload_errors == 1
    (record,) = caplog.records
    assert "not reloaded, keeping the last good state" in record.getMessage()
    assert "services[0].endpoints[0].address" in record.getMessage()
    path.write_text(TWO)
    assert source.poll(directory) is True
    assert hosts(directory) == ["10.0.0.2"]


def test_a_deleted_file_keeps_the_state_until_it_returns(
    setup: tuple[Path, FileRegistrySource, Directory, ControllerStats],
) -> None:
    path, source, directory, stats = setup
    path.unlink()
    assert source.poll(directory) is False
    assert source.poll(directory) is False
    assert stats.reload_errors == 1
    assert hosts(directory) == ["10.0.0.1"]
    path.write_text(ONE)
    assert source.poll(directory) is True


def test_load_raises_for_an_invalid_or_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"services: [\xff]\n")
    with pytest.raises(RegistryError, match="not UTF-8"):
        FileRegistrySource(path, ControllerStats()).load()
    with pytest.raises(FileNotFoundError):
        FileRegistrySource(tmp_path / "missing.yaml", ControllerStats()).load()
