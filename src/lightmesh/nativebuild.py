"""``python -m lightmesh.nativebuild build|clean|status``: compile the hot path with mypyc, in place.

The extension modules land beside their sources, in the installed package (``src/lightmesh``
for an editable install), and ``_native.json`` records a checksum of every source compiled, so
an edited source turns the whole set off (see :mod:`lightmesh.native`) instead of running
stale code. Building needs mypy and setuptools (``pip install 'lightmesh[compile]'``), a C
compiler and the Python headers; the generated C goes to a temporary directory.

The shared library is built for memory as much as speed (every proxy maps it): ``-Os``,
no debug info, hidden symbols (the modules reach each other through capsules, so only
``PyInit_*`` is exported, and calls inside the library are direct), and packed relative
relocations where the toolchain and C library support them. Together these cut the
library's resident size from about 1.4 MB to 0.8 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile

from lightmesh import native

BUILD = """
import sys
from mypyc.build import mypycify
from setuptools import setup

target, temp, jobs, link = sys.argv[1:5]
modules = mypycify(sys.argv[5:], opt_level="s", debug_level="0", target_dir=target, group_name="lightmesh")
for module in modules:
    module.extra_compile_args.append("-fvisibility=hidden")
    module.extra_link_args.extend(link.split())
setup(
    name="lightmesh-native",
    ext_modules=modules,
    script_args=["build_ext", "--inplace", "--parallel", jobs, "--build-temp", temp],
)
"""


def clean() -> int:
    """Remove every built module and the record; returns how many files went."""
    removed = 0
    for path in native.compiled_sources():  # this build's and any earlier one's
        for built in native.built_modules(path):
            built.unlink()
            removed += 1
    # The runtime shared by the modules sits beside the package; only ours, never another project's.
    for shared in native.PACKAGE.parent.glob(f"{native.SHARED}.*"):
        shared.unlink()
        removed += 1
    native.RECORD.unlink(missing_ok=True)
    return removed


RELR = "-Wl,-z,pack-relative-relocs"
PROBE = "static int x;\nint *lightmesh_probe = &x;\n"


def _link_flags(tmp: str) -> list[str]:
    """``RELR`` if this compiler links a library with it and this Python can load that library
    (a linker newer than the C library would write one that does not load)."""
    source, library = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe.so")
    with open(source, "w") as out:
        out.write(PROBE)
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    linked = subprocess.run([*compiler, "-shared", "-fPIC", RELR, source, "-o", library], capture_output=True)
    if linked.returncode != 0:
        return []
    load = f"import ctypes; ctypes.CDLL({library!r})"
    loaded = subprocess.run([sys.executable, "-c", load], capture_output=True)
    return [RELR] if loaded.returncode == 0 else []


def build() -> int:
    """Compile :func:`native.sources` in place; returns how many modules were built."""
    clean()
    paths = native.sources()
    record = {p.relative_to(native.PACKAGE).as_posix(): native.digest(p) for p in paths}
    root = native.PACKAGE.parent
    with tempfile.TemporaryDirectory(prefix="lightmesh-mypyc-") as tmp:
        argv = [sys.executable, "-c", BUILD, tmp, os.path.join(tmp, "temp"), str(os.cpu_count() or 1)]
        argv.append(" ".join(_link_flags(tmp)))
        argv += [str(p.relative_to(root)) for p in paths]
        env = dict(os.environ, LIGHTMESH_PURE_PYTHON="1")
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        errors = [line for line in lines if ": error:" in line] or lines[-30:]
        clean()
        raise SystemExit("mypyc failed; the package stays pure Python:\n" + "\n".join(errors))
    missing = [str(p) for p in paths if not native.built_modules(p)]
    if missing:
        clean()
        raise SystemExit(f"mypyc built nothing for: {', '.join(missing)}")
    native.RECORD.write_text(json.dumps({"sources": record}, indent=1, sort_keys=True) + "\n")
    return len(paths)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lightmesh.nativebuild", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("build", "clean", "status"))
    args = ap.parse_args(argv)
    if args.action == "build":
        print(f"compiled {build()} modules in {native.PACKAGE}")
    elif args.action == "clean":
        print(f"removed {clean()} built files")
    else:
        print(native.fresh()[1])


if __name__ == "__main__":
    main()
