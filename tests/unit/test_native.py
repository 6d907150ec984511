"""The compiled hot path is used only when fresh: a stale or missing build falls back to the sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lightmesh import native, nativebuild

SRC = Path(native.__file__).resolve().parent.parent


def test_the_compiled_set_is_the_hot_path_without_package_inits_or_exception_classes() -> None:
    names = {native.module_name(p) for p in native.sources()}
    assert {"lightmesh.protocol.http1", "lightmesh.io.h1server", "lightmesh.proxy.telemetry"} <= names
    assert "lightmesh.proxy.layers.metrics" in names
    assert "lightmesh.core.errors" not in names
    assert not any(name.endswith("__init__") for name in names)
    assert not {"lightmesh.proxy.main", "lightmesh.native", "lightmesh.cli"} & names


def _fresh_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, record: object) -> tuple[bool, str]:
    path = tmp_path / "_native.json"
    if record is not None:
        path.write_text(json.dumps(record))
    monkeypatch.setattr(native, "RECORD", path)
    monkeypatch.delenv("LIGHTMESH_PURE_PYTHON", raising=False)
    return native.fresh()


def test_without_a_record_the_package_is_pure_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _fresh_with(monkeypatch, tmp_path, None) == (
        False,
        "pure Python (not compiled: python -m lightmesh.nativebuild build)",
    )
    assert _fresh_with(monkeypatch, tmp_path, ["not", "a", "record"])[0] is False


def test_a_source_edited_after_the_build_turns_the_whole_set_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record = {p.relative_to(native.PACKAGE).as_posix(): native.digest(p) for p in native.sources()}
    record["protocol/http1.py"] = "0" * 64
    monkeypatch.setattr(native, "compiled_sources", native.sources)
    monkeypatch.setattr(native, "runtime_present", lambda: True)
    compiled, why = _fresh_with(monkeypatch, tmp_path, {"sources": record})
    assert not compiled
    assert "stale build: protocol/http1.py changed" in why


def _record_of_sources() -> dict[str, dict[str, str]]:
    return {"sources": {p.relative_to(native.PACKAGE).as_posix(): native.digest(p) for p in native.sources()}}


def test_a_build_of_exactly_the_listed_unchanged_sources_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(native, "compiled_sources", native.sources)
    monkeypatch.setattr(native, "runtime_present", lambda: True)
    assert _fresh_with(monkeypatch, tmp_path, _record_of_sources()) == (
        True,
        f"compiled with mypyc ({len(native.sources())} modules)",
    )


def test_a_module_left_built_by_an_earlier_build_turns_the_whole_set_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    leftover = native.PACKAGE / "proxy" / "main.py"
    monkeypatch.setattr(native, "compiled_sources", lambda: [*native.sources(), leftover])
    monkeypatch.setattr(native, "runtime_present", lambda: True)
    compiled, why = _fresh_with(monkeypatch, tmp_path, _record_of_sources())
    assert not compiled
    assert "does not match the module list at proxy/main.py" in why


def test_modules_without_their_shared_runtime_are_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(native, "compiled_sources", native.sources)
    monkeypatch.setattr(native, "runtime_present", lambda: False)
    compiled, why = _fresh_with(monkeypatch, tmp_path, _record_of_sources())
    assert not compiled
    assert "lightmesh__mypyc library is missing" in why


def test_pure_python_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTMESH_PURE_PYTHON", "1")
    assert native.fresh() == (False, "pure Python (LIGHTMESH_PURE_PYTHON is set)")


def test_the_fallback_finder_loads_the_listed_modules_from_their_sources() -> None:
    source = native.PACKAGE / "protocol" / "http1.py"
    finder = native._PureFinder({"lightmesh.protocol.http1": source})
    spec = finder.find_spec("lightmesh.protocol.http1", None)
    assert spec is not None and spec.origin == str(source)
    assert finder.find_spec("lightmesh.proxy.main", None) is None


def _imported_from(env: dict[str, str]) -> str:
    code = "import lightmesh.protocol.http1 as m, lightmesh.native as n; print(m.__file__, n.STATUS[0])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=SRC
    )
    return done.stdout.strip()


def test_a_process_imports_the_build_only_when_it_is_fresh() -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC), LIGHTMESH_PURE_PYTHON="1")
    assert _imported_from(env) == f"{native.PACKAGE / 'protocol' / 'http1.py'} False"
    if native.STATUS[0]:
        env["LIGHTMESH_PURE_PYTHON"] = ""
        file, compiled = _imported_from(env).split()
        assert compiled == "True" and not file.endswith(".py")


@pytest.mark.skipif(not os.environ.get("LIGHTMESH_EXPECT_COMPILED"), reason="only where a build is expected")
def test_the_suite_runs_against_the_compiled_hot_path() -> None:
    compiled, why = native.STATUS
    assert compiled, why
    assert why == f"compiled with mypyc ({len(native.sources())} modules)"
    import lightmesh.protocol.http1

    assert not str(lightmesh.protocol.http1.__file__).endswith(".py")


def test_packed_relocations_are_left_out_when_the_compiler_cannot_link_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(nativebuild.sysconfig, "get_config_var", lambda name: "false")
    assert nativebuild._link_flags(str(tmp_path)) == []


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_packed_relocations_are_used_where_the_linker_and_c_library_support_them(tmp_path: Path) -> None:
    glibc = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0"
    major, minor = (int(n) for n in glibc.split()[1].split(".")[:2])
    if (major, minor) < (2, 36):
        pytest.skip(f"{glibc} has no DT_RELR")
    assert nativebuild._link_flags(str(tmp_path)) == [nativebuild.RELR]
