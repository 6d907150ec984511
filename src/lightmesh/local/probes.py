"""Readiness probes and ports: is an admin endpoint ready, is an app listening, is a port free,
which free port an instance gets.

:func:`listening` reads ``/proc/PID/net/tcp`` and ``tcp6``, which list the sockets of the
network namespace PID lives in: the same check works for an app on the host and for one
inside a ``--netns`` pod, without entering the namespace or connecting to it (a connection
to a pod would be redirected to its sidecar).
"""

from __future__ import annotations

import asyncio
import random
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


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS_FROM = 10000  # the lowest port handed out; below it live well-known services
_handed_out: set[int] = set()


def listen_port_range() -> range:
    """Where :func:`free_port` looks: below the kernel's ephemeral range.

    A port the kernel picked for ``bind(0)`` comes from the ephemeral range, where it also
    picks the source port of every outgoing connection: a listener started a moment later can
    find its port taken by some client's connection and fail with "address already in use"
    for as long as that connection lives. Ports below the range are never picked that way."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(LISTEN_PORTS_FROM, low) if low - LISTEN_PORTS_FROM >= 1000 else range(0)


def _bindable(s: socket.socket, host: str, port: int) -> bool:
    try:
        s.bind((host, port))
    except OSError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to now, not handed out before by this process, and (where the
    system leaves room) outside the ephemeral range; else the kernel's pick."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports = listen_port_range()
    for _ in range(100 if ports else 0):
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket(family) as s:
            if _bindable(s, host, port):
                _handed_out.add(port)
                return port
    with socket.socket(family) as s:
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
