"""Raw HTTP/1.x over real loopback sockets, for tests that need exact bytes.

:class:`RawConnection` writes whatever bytes a test gives it and reads responses
with the framing rules of RFC 9112 (bodiless HEAD/1xx/204/304, chunked,
Content-Length, close-delimited), keeping the raw head so tests can check what
went over the wire. Every read has a deadline, so a misbehaving proxy fails a test
instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 5.0


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes
    chunked: bool = False
    close_delimited: bool = False
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name: str) -> bool:
        return bool(self.header_all(name))

    def json(self) -> Any:
        return json.loads(self.body)

    def connection_tokens(self) -> set[str]:
        return {t.strip().lower() for v in self.header_all("connection") for t in v.split(",") if t.strip()}


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete response arrived."""


class RawConnection:
    """One client TCP connection; ``send`` raw bytes, ``read_response`` parsed responses."""

    def __init__(self, addr: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection(split_addr(addr), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.eof = False

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    # reading
    def _fill(self, deadline: float) -> bool:
        """Read more bytes into the buffer; ``False`` at EOF. Raises TimeoutError past ``deadline``."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the peer in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no data from the peer in time") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _read_line(self, deadline: float) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise ConnectionClosed(f"connection closed mid-line; have {self.buffer[:200]!r}")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            if not self._fill(deadline):
                raise ConnectionClosed(f"connection closed after {len(self.buffer)} of {n} body bytes")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self, timeout: float | None = None) -> tuple[bytes, str, int, str, list[tuple[str, str]]]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise ConnectionClosed(
                    f"connection closed before a response head; have {self.buffer[:200]!r}"
                )
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = [*lines[0].split(" ", 2), ""][:3]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return head + b"\r\n\r\n", version, int(status), reason, headers

    def read_response(self, method: str = "GET", timeout: float | None = None) -> RawResponse:
        """Read one response to a request with ``method``, skipping 1xx interim responses (not 101)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            head, version, status, reason, headers = self.read_head(deadline - time.monotonic())
            if 100 <= status < 200 and status != 101:
                continue
            break
        response = RawResponse(version, status, reason, headers, b"", head)
        te = (response.header("transfer-encoding") or "").lower()
        length = response.header("content-length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return response
        if te.endswith("chunked"):
            response.chunked = True
            response.body, response.trailers = self._read_chunked(deadline)
        elif length is not None:
            response.body = self._read_exact(int(length), deadline)
        else:
            response.close_delimited = True
            response.body = self.read_until_close(deadline - time.monotonic())
        return response

    def _read_chunked(self, deadline: float) -> tuple[bytes, list[tuple[str, str]]]:
        body = b""
        while True:
            size = int(self._read_line(deadline).split(b";")[0], 16)
            if size == 0:
                trailers = []
                while line := self._read_line(deadline):
                    name, _, value = line.decode("latin-1").partition(":")
                    trailers.append((name.strip(), value.strip()))
                return body, trailers
            body += self._read_exact(size, deadline)
            if self._read_line(deadline) != b"":
                raise AssertionError("chunk not followed by CRLF")

    def read_until_close(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        data, self.buffer = self.buffer, b""
        return data

    def wait_closed(self, timeout: float | None = None) -> bytes:
        """Wait for EOF (or reset) from the peer; return any bytes received meanwhile."""
        return self.read_until_close(timeout)

    def is_open_after(self, seconds: float) -> bool:
        """``True`` if no EOF arrives within ``seconds`` (and nothing unexpected was sent)."""
        try:
            self.read_until_close(seconds)
        except TimeoutError:
            return True
        return False


def raw_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    version: str = "HTTP/1.1",
) -> bytes:
    """Serialize a request exactly as given (no header is added implicitly)."""
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(*pieces: bytes, trailers: list[tuple[str, str]] | None = None) -> bytes:
    """A chunked body made of ``pieces`` (one chunk each) and the last chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    tail = "".join(f"{k}: {v}\r\n" for k, v in trailers or [])
    return out + b"0\r\n" + tail.encode("latin-1") + b"\r\n"


def echo_headers(info: dict[str, Any]) -> dict[str, list[str]]:
    """The headers an ``/echo`` response says the upstream received, by lower-case name."""
    seen: dict[str, list[str]] = {}
    for name, value in info["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is truthy or ``timeout`` passes; return its last truth."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
