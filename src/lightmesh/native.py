"""The data plane's compiled build: which modules mypyc compiles, and never running a stale one.

The proxy's hot path (``core``, ``protocol``, ``io`` and the request layers of ``proxy``,
listed in :data:`COMPILED`) is plain, type-checked Python that ``python -m lightmesh.nativebuild
build`` compiles with mypyc into extension modules beside the sources, wherever the package
is installed (needs ``pip install 'lightmesh[compile]'`` and a C compiler; about three
minutes). Python then imports the ``.so`` in preference to the ``.py``. The build records a
checksum of every source it compiled in ``_native.json``; ``clean`` removes the build and
``status`` says whether it is in use.

Compiled modules call each other directly, so they are only usable as a set built from
the sources on disk. :func:`guard` (run once, when the package is imported) checks the
record: when every listed source still matches its checksum, the compiled set is used;
otherwise (a source was edited, a build is partial, ``LIGHTMESH_PURE_PYTHON=1``) a
meta-path finder sends every listed module to its ``.py``, so a stale build can never
run. :data:`STATUS` says which happened; the proxy logs it at start and
``python -m lightmesh.nativebuild status`` prints it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
RECORD = PACKAGE / "_native.json"
SHARED = "lightmesh__mypyc"  # the build's runtime library, beside the package (mypycify's group_name)
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)

# The modules every request or frame runs through (package-relative globs). Start-up, per-connection
# and scrape-time modules stay interpreted: compiled code is resident memory (about 40 KB per module).
COMPILED = (
    "core/accrual.py",
    "core/addr.py",
    "core/budget.py",
    "core/classify.py",
    "core/deadlines.py",
    "core/ewma.py",
    "core/latency.py",
    "core/p2c.py",
    "core/ratelimit.py",
    "core/routes.py",
    "core/stats.py",
    "protocol/grpc.py",
    "protocol/h2*.py",
    "protocol/http1*.py",
    "protocol/messages.py",
    "io/body.py",
    "io/context.py",
    "io/drive.py",
    "io/h[12]*.py",
    "io/pool.py",
    "io/server.py",
    "io/tcp.py",
    "io/tls.py",
    "proxy/layers/*.py",
    "proxy/balance.py",
    "proxy/endpoint.py",
    "proxy/inbound.py",
    "proxy/orig_proto.py",
    "proxy/outbound.py",
    "proxy/replay.py",
    "proxy/routestats.py",
    "proxy/service.py",
    "proxy/telemetry.py",
)
# Matched above but left interpreted: exception classes with per-class ``status`` attributes.
EXCLUDED = ("core/errors.py",)


def sources() -> list[Path]:
    """The source files of the compiled set, sorted."""
    found = {p for pattern in COMPILED for p in PACKAGE.glob(pattern) if p.name != "__init__.py"}
    return sorted(found - {PACKAGE / name for name in EXCLUDED})


def module_name(path: Path) -> str:
    return ".".join(("lightmesh", *path.relative_to(PACKAGE).with_suffix("").parts))


def digest(path: Path) -> str:
    """Size and CRC-32 of a source: enough to notice an edit (zlib is loaded anyway; hashlib is 0.7 MB)."""
    data = path.read_bytes()
    return f"{len(data)}:{zlib.crc32(data):08x}"


def built_modules(path: Path) -> list[Path]:
    """Extension modules built for ``path`` (any ABI tag) beside it."""
    stem = path.stem + "."
    return [p for p in path.parent.iterdir() if p.name.startswith(stem) and p.name.endswith(SUFFIXES)]


def compiled_sources() -> list[Path]:
    """Every source in the package with an extension module beside it (from any build)."""
    found = {
        p.parent / (p.name.split(".")[0] + ".py") for p in PACKAGE.rglob("*") if p.name.endswith(SUFFIXES)
    }
    return sorted(p for p in found if p.exists())


def runtime_present() -> bool:
    """Whether the build's shared runtime library is beside the package."""
    return any(PACKAGE.parent.glob(f"{SHARED}.*"))


def fresh() -> tuple[bool, str]:
    """Whether the compiled set may be used, and why (not)."""
    if os.environ.get("LIGHTMESH_PURE_PYTHON", "") not in ("", "0"):
        return False, "pure Python (LIGHTMESH_PURE_PYTHON is set)"
    try:
        record: dict[str, str] = json.loads(RECORD.read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return False, "pure Python (not compiled: python -m lightmesh.nativebuild build)"
    if not runtime_present():
        return False, f"pure Python (the build's {SHARED} library is missing; rebuild it)"
    built = {p.relative_to(PACKAGE).as_posix(): p for p in compiled_sources()}
    odd = sorted(set(built) ^ {p.relative_to(PACKAGE).as_posix() for p in sources()})
    if odd:
        return False, f"pure Python (the build does not match the module list at {odd[0]}; rebuild it)"
    for rel, path in built.items():
        if record.get(rel) != digest(path):
            return False, f"pure Python (stale build: {rel} changed; python -m lightmesh.nativebuild build)"
    return True, f"compiled with mypyc ({len(built)} modules)"


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
    if not compiled:  # only then: the package is walked for built modules once, by fresh(), when in use
        built = compiled_sources()
        if built:
            sys.meta_path.insert(0, _PureFinder({module_name(p): p for p in built}))
    return compiled, why


STATUS = guard()
