"""The data plane's compiled build: which modules mypyc compiles, and never running a stale one.

The proxy's hot path (``core``, ``protocol``, ``io`` and the request layers of ``proxy``,
listed in :data:`COMPILED`) is plain, type-checked Python that ``python -m lightmesh.nativebuild
build`` compiles with mypyc into extension modules beside the sources, wherever the package
is installed (needs ``pip install 'lightmesh[compile]'`` and a C compiler; about three
minutes). Python then imports the ``.so`` in preference to the ``.py``. The build records a
hash of every source it compiled in ``_native.json``; ``clean`` removes the build and
``status`` says whether it is in use.

Compiled modules call each other directly, so they are only usable as a set built from
the sources on disk. :func:`guard` (run once, when the package is imported) checks the
record: when every listed source still hashes as built, the compiled set is used;
otherwise (a source was edited, a build is partial, ``LIGHTMESH_PURE_PYTHON=1``) a
meta-path finder sends every listed module to its ``.py``, so a stale build can never
run. :data:`STATUS` says which happened; the proxy logs it at start and ``lightmesh
version`` prints it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
RECORD = PACKAGE / "_native.json"

# Package-relative globs of the modules mypyc compiles, and those it must leave alone.
COMPILED = (
    "core/*.py",
    "protocol/*.py",
    "io/*.py",
    "proxy/layers/*.py",
    "proxy/balance.py",
    "proxy/endpoint.py",
    "proxy/inbound.py",
    "proxy/orig_proto.py",
    "proxy/outbound.py",
    "proxy/replay.py",
    "proxy/resolve.py",
    "proxy/routestats.py",
    "proxy/service.py",
    "proxy/tcp.py",
    "proxy/telemetry.py",
)
# Exception classes with per-class ``status`` attributes stay interpreted (a cold path).
EXCLUDED = ("core/errors.py",)


def sources() -> list[Path]:
    """The source files of the compiled set, sorted."""
    found = {p for pattern in COMPILED for p in PACKAGE.glob(pattern) if p.name != "__init__.py"}
    return sorted(found - {PACKAGE / name for name in EXCLUDED})


def module_name(path: Path) -> str:
    return ".".join(("lightmesh", *path.relative_to(PACKAGE).with_suffix("").parts))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built_modules(path: Path) -> list[Path]:
    """Extension modules built for ``path`` (any ABI tag) beside it."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    stem = path.stem + "."
    return [p for p in path.parent.iterdir() if p.name.startswith(stem) and p.name.endswith(suffixes)]


def fresh() -> tuple[bool, str]:
    """Whether the compiled set may be used, and why (not)."""
    if os.environ.get("LIGHTMESH_PURE_PYTHON", "") not in ("", "0"):
        return False, "pure Python (LIGHTMESH_PURE_PYTHON is set)"
    try:
        record: dict[str, str] = json.loads(RECORD.read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return False, "pure Python (not compiled: python -m lightmesh.nativebuild build)"
    for path in sources():
        rel = path.relative_to(PACKAGE).as_posix()
        if record.get(rel) != digest(path) or not built_modules(path):
            return False, f"pure Python (stale build: {rel} changed; python -m lightmesh.nativebuild build)"
    return True, f"compiled with mypyc ({len(record)} modules)"


class _PureFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules' ``.py`` sources, ahead of their extension modules."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.modules.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def guard() -> tuple[bool, str]:
    """Use the compiled set only when it is fresh; returns (compiled, description)."""
    compiled, why = fresh()
    if not compiled and any(built_modules(p) for p in sources()):
        sys.meta_path.insert(0, _PureFinder({module_name(p): p for p in sources()}))
    return compiled, why


STATUS = guard()
