"""Client-side helpers for the proxy's TCP-level integration tests.

Raw sockets with explicit deadlines (every read is bounded in bytes and time), a
tiny HTTP/1.1 exchange over ``http.client`` that returns 4xx/5xx instead of raising,
and :func:`wait_until` for polling a condition (a metric, a refused port) with a
deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.proxy import ProxyProcess

TIMEOUT = 10.0


def connect(addr: str, timeout: float = TIMEOUT) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int, timeout: float = TIMEOUT) -> bytes:
    """Read exactly ``n`` bytes; fails on EOF or when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(data)} of {n} bytes: {bytes(data[:200])!r}")
        sock.settimeout(left)
        piece = sock.recv(min(65536, n - len(data)))
        if not piece:
            raise EOFError(f"EOF after {len(data)} of {n} bytes: {bytes(data[:200])!r}")
        data += piece
    return bytes(data)


def recv_until(
    sock: socket.socket, marker: bytes, limit: int = 65536, timeout: float = TIMEOUT
) -> tuple[bytes, bytes]:
    """Read until ``marker``; returns (bytes up to and including it, bytes after it)."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        if len(data) > limit:
            raise ValueError(f"no {marker!r} in the first {limit} bytes: {data[:200]!r}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} within {timeout}s; got {data[:200]!r}")
        sock.settimeout(left)
        piece = sock.recv(65536)
        if not piece:
            raise EOFError(f"EOF before {marker!r}; got {data[:200]!r}")
        data += piece
    head, _, rest = data.partition(marker)
    return head + marker, rest


def recv_to_eof(sock: socket.socket, limit: int = 1 << 24, timeout: float = TIMEOUT) -> bytes:
    """Read until the peer closes (EOF or reset); fails past ``limit`` bytes or ``timeout``."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF within {timeout}s; got {bytes(data[:200])!r}")
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return bytes(data)
        if not piece:
            return bytes(data)
        data += piece
    raise ValueError(f"more than {limit} bytes before EOF")


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    rest: bytes = b""  # bytes after the head (a tunnel's or body's first bytes)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def read_response_head(sock: socket.socket, timeout: float = TIMEOUT) -> RawResponse:
    """Read one response head from ``sock`` (for CONNECT and upgrades, where a body parser must not run)."""
    head, rest = recv_until(sock, b"\r\n\r\n", timeout=timeout)
    lines = head.decode("latin-1").split("\r\n")
    _, status, reason = [*lines[0].split(" ", 2), ""][:3]
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line)]
    return RawResponse(int(status), reason, headers, rest)


@dataclass
class HttpResult:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def http_request(
    addr: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> HttpResult:
    """One request on a fresh connection; any status is returned, never raised."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return HttpResult(response.status, response.headers, response.read())
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Poll ``predicate`` every 50 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_metric(
    proxy: ProxyProcess, name: str, expected: float, timeout: float = TIMEOUT, **labels: str
) -> None:
    """Wait until the summed samples of ``name`` with ``labels`` equal ``expected``.

    Counters are updated when a stream or connection ends, which can be a moment after
    the client saw the last byte; polling keeps the tests free of sleeps and races.
    """
    seen: list[float] = []

    def reached() -> bool:
        seen.append(proxy.metric(name, **labels))
        return seen[-1] == expected

    try:
        wait_until(reached, timeout, f"{name}{labels} == {expected}")
    except AssertionError:
        raise AssertionError(f"{name}{labels}: expected {expected}, last seen {seen[-1:]}") from None


def is_refused(addr: str) -> bool:
    """Whether a TCP connect to ``addr`` is refused right now."""
    try:
        sock = connect(addr, timeout=2.0)
    except ConnectionRefusedError:
        return True
    sock.close()
    return False
