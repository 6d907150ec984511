"""Readiness probes and ports: is an admin endpoint ready, is an app listening, is a port free.

:func:`listening` reads ``/proc/PID/net/tcp`` and ``tcp6``, which list the sockets of the
network namespace PID lives in: the same check works for an app on the host and for one
inside a ``--netns`` pod, without entering the namespace or connecting to it (a connection
to a pod would be redirected to its sidecar).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

LISTEN = "0A"


async def http_status(addr: str, path: str, timeout: float = 1.0) -> int | None:
    """The status of ``GET path`` on ``addr`` (host:port), or ``None`` when it does not answer."""
    answer = await _get(addr, path, timeout, whole=False)
    parts = answer.split(maxsplit=2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def counter(addr: str, name: str, timeout: float = 1.0) -> float | None:
    """The sum of the ``name`` samples on ``addr``'s ``/metrics``, or ``None`` when it does not answer."""
    answer = await _get(addr, "/metrics", timeout, whole=True)
    if not answer:
        return None
    prefix = name.encode()
    return sum(
        float(line.rsplit(None, 1)[1])
        for line in answer.splitlines()
        if line.startswith(prefix) and line[len(prefix) : len(prefix) + 1] in (b"{", b" ")
    )


async def _get(addr: str, path: str, timeout: float, whole: bool) -> bytes:
    host, _, port = addr.rpartition(":")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            try:
                writer.write(f"GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n".encode())
                return await (reader.read() if whole else reader.readline())
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return b""


def listening(pid: int, port: int) -> bool:
    """Whether a TCP socket listens on ``port`` in the network namespace of process ``pid``."""
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            return True
    return False
