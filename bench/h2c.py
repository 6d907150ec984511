"""h2c (HTTP/2 over cleartext, prior knowledge) probes with the `nghttp` client.

`probe` sends one request with `nghttp -nv` (nghttp2-client, the package that
also ships h2load) and parses its verbose frame log: the response status, the
response headers and trailers, and the server's first SETTINGS frame. The
SETTINGS are the fingerprint that tells an HTTP/2-terminating proxy from an
opaque TCP relay: behind a relay the client sees the upstream's own SETTINGS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench import procs
from bench.procs import LOOPBACK, Managed

_SETTING = re.compile(r"\[SETTINGS_(\w+)\(0x[0-9a-f]+\):(\d+)\]")
_HEADER = re.compile(r"recv \(stream_id=\d+\) ([^:\s][^:]*|:[a-z]+): (.*)$")
_FRAME = re.compile(r"^\[\s*[\d.]+\] ")


@dataclass
class Probe:
    """One nghttp exchange: status, headers + trailers (lower-case names), server SETTINGS."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, int] = field(default_factory=dict)
    error: str = ""


Check = Callable[[Probe], str]  # returns "" when the response is acceptable, else why not
Wait = Callable[[Managed, int, float], None]  # peers.Probe: (process, port, timeout), raises unless ready


def probe(port: int, path: str, request_args: Sequence[str] = (), timeout_s: float = 5.0) -> Probe:
    """One h2c request to 127.0.0.1:port/path; never raises for network errors."""
    argv = ["nghttp", "-nv", "-t", f"{max(int(timeout_s), 1)}", *request_args]
    argv.append(f"http://{LOOPBACK}:{port}{path}")
    try:
        done = procs.run_bounded(argv, None, timeout_s=timeout_s + 5)
    except OSError as exc:
        return Probe(error=str(exc))
    result = Probe()
    in_settings = False
    for line in done.stdout.splitlines():
        if _FRAME.match(line):
            in_settings = "recv SETTINGS frame" in line and "flags=0x00" in line and not result.settings
        elif in_settings and (m := _SETTING.search(line)):
            result.settings[m.group(1)] = int(m.group(2))
        if m := _HEADER.search(line):
            result.headers[m.group(1).lower()] = m.group(2).strip()
    status = result.headers.get(":status", "")
    result.status = int(status) if status.isdigit() else None
    if result.status is None:
        errors = [ln.split("[ERROR]", 1)[1] for ln in done.stdout.splitlines() if "[ERROR]" in ln]
        text = " ".join(errors) if errors else done.stderr + " " + done.stdout[-300:]
        result.error = " ".join(text.split())[-300:] or "no response"
    return result


def grpc_check(result: Probe) -> str:
    """A unary gRPC response needs content-type application/grpc and a grpc-status trailer of 0."""
    ctype = result.headers.get("content-type", "")
    if not ctype.startswith("application/grpc"):
        return f"content-type {ctype or 'missing'!r}, not application/grpc"
    if result.headers.get("grpc-status") != "0":
        return f"grpc-status trailer {result.headers.get('grpc-status', 'missing')!r}, expected '0'"
    return ""


def waiter(path: str, request_args: Sequence[str] = (), check: Check | None = None) -> Wait:
    """A readiness probe for peers.Context.probe: poll until the request gets a 200 (and passes `check`)."""

    def wait(managed: Managed, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = Probe(error="not tried")
        while time.monotonic() < deadline:
            if not managed.alive():
                code = managed.proc.returncode if managed.proc else None
                raise RuntimeError(f"exited with code {code}: {managed.log_tail()}")
            last = probe(port, path, request_args, timeout_s=2.0)
            if last.status == 200:
                why = check(last) if check else ""
                if not why:
                    return
                raise RuntimeError(f"h2c {path} answered 200 but {why}")
            time.sleep(0.1)
        raise RuntimeError(
            f"h2c request {path} on port {port} not 200 after {timeout_s:.0f} s "
            f"(last status {last.status}, {last.error}): {managed.log_tail()}"
        )

    return wait
