"""The controller's admin listener: ``/metrics``, ``/ready`` and ``/live`` over HTTP/1.1.

A deliberately small asyncio server: it reads one request head (at most 16 KiB, within
10 s), answers it and closes the connection, which is all Prometheus and Kubernetes
probes need.

* ``GET /metrics``: Prometheus text from the controller's collector;
* ``GET /ready``: 200 once the registry is loaded and the proxy API is listening, else 503;
* ``GET /live``: 200 while the event loop runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from http import HTTPStatus

from lightmesh.core.addr import SocketAddr

HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT = 10.0
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

Reply = tuple[int, str, bytes]  # status, content type, body


class AdminRoutes:
    def __init__(self, metrics: Callable[[], bytes], is_ready: Callable[[], bool]) -> None:
        self.metrics = metrics
        self.is_ready = is_ready

    def __call__(self, method: str, path: str) -> Reply:
        if method not in ("GET", "HEAD"):
            return 405, TEXT_TYPE, b"use GET\n"
        if path == "/metrics":
            return 200, METRICS_TYPE, self.metrics()
        if path == "/ready":
            return (200, TEXT_TYPE, b"ready\n") if self.is_ready() else (503, TEXT_TYPE, b"not ready\n")
        if path == "/live":
            return 200, TEXT_TYPE, b"live\n"
        return 404, TEXT_TYPE, b"not found; try /metrics, /ready, /live\n"


async def start_admin(addr: SocketAddr, routes: AdminRoutes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                status, ctype, body = 400, TEXT_TYPE, b"bad request\n"
                method = "GET"
            else:
                method, target = parts[0], parts[1]
                status, ctype, body = routes(method, target.split("?", 1)[0])
            reason = HTTPStatus(status).phrase
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + (body if method != "HEAD" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, addr.host, addr.port, limit=HEAD_LIMIT)
