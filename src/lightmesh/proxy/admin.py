"""The admin listener's service: ``/metrics``, ``/ready``, ``/live``, log level, ``/shutdown``.

It is an ordinary Service served by the same HTTP/1 server as the data plane.

* ``GET /metrics``: Prometheus text, rendered from the counters at scrape time.
* ``GET /ready``: 200 once the listeners are bound, 503 while starting or draining.
* ``GET /live``: 200 while the process runs its event loop.
* ``GET /proxy-log-level``; ``PUT /proxy-log-level`` with a level in the body.
* ``POST /shutdown``: begins a graceful shutdown, only when enabled by config.
* ``GET /identity``: the proxy's certificate as JSON (identity, issuer, not_before,
  not_after, serial); 404 when identity is off, 503 before the first certificate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lightmesh import logs
from lightmesh.protocol.messages import BytesBody, Headers, Request, Response
from lightmesh.protocol.prometheus import CONTENT_TYPE
from lightmesh.proxy.telemetry import MeshCollector

_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def _reply(status: int, text: str, headers: Headers | None = None) -> Response:
    return Response(status, headers or [_TEXT], BytesBody(text.encode() + b"\n"))


class AdminService:
    def __init__(
        self,
        metrics: MeshCollector,
        is_ready: Callable[[], bool],
        shutdown: Callable[[], None] | None,
        identity: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.is_ready = is_ready
        self.shutdown = shutdown
        self.identity = identity

    async def __call__(self, request: Request) -> Response:
        path = request.path.split(b"?", 1)[0]
        method = request.method
        if path == b"/metrics" and method in (b"GET", b"HEAD"):
            return Response(200, [(b"content-type", CONTENT_TYPE)], BytesBody(self.metrics.render()))
        if path == b"/ready" and method in (b"GET", b"HEAD"):
            return _reply(200, "ready") if self.is_ready() else _reply(503, "not ready")
        if path == b"/live" and method in (b"GET", b"HEAD"):
            return _reply(200, "live")
        if path == b"/proxy-log-level":
            return await self._log_level(request)
        if path == b"/shutdown":
            return self._shutdown(method)
        if path == b"/identity" and method in (b"GET", b"HEAD"):
            return self._identity()
        return _reply(404, "not found; try /metrics, /ready, /live, /proxy-log-level, /shutdown, /identity")

    def _identity(self) -> Response:
        if self.identity is None:
            return _reply(404, "identity is off (LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME is not set)")
        info = self.identity()
        if info is None:
            return _reply(503, "no certificate yet")
        body = json.dumps(info).encode() + b"\n"
        return Response(200, [(b"content-type", b"application/json")], BytesBody(body))

    async def _log_level(self, request: Request) -> Response:
        if request.method in (b"GET", b"HEAD"):
            return _reply(200, logs.get_level())
        if request.method != b"PUT":
            return _reply(405, "use GET or PUT", [_TEXT, (b"allow", b"GET, PUT")])
        body = b""
        while chunk := await request.body.read():
            body += chunk
            if len(body) > 256:
                return _reply(400, "log level too long")
        try:
            logs.set_level(body.decode("utf-8", "replace"))
        except ValueError as exc:
            return _reply(400, str(exc))
        return _reply(200, logs.get_level())

    def _shutdown(self, method: bytes) -> Response:
        if method != b"POST":
            return _reply(405, "use POST", [_TEXT, (b"allow", b"POST")])
        if self.shutdown is None:
            return _reply(
                404, "shutdown endpoint disabled; set LIGHTMESH_PROXY_ADMIN_SHUTDOWN=true to enable"
            )
        self.shutdown()
        return _reply(202, "shutting down")
