"""The control socket of a running ``lightmesh up`` (``up.sock`` next to the state file).

One JSON request per connection, one JSON answer: ``{"op": "scale", "service": "web",
"replicas": 3}`` answers ``{"ok": true, "service": "web.default", "replicas": 3}`` or
``{"ok": false, "error": "..."}``. :func:`request` is the client side, used by
``lightmesh scale``; :func:`serve` the server side, with a handler from the supervisor.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST = 64 * 1024


async def serve(path: Path, handler: Handler) -> asyncio.Server:
    _remove(path)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            try:
                req = json.loads(line[:MAX_REQUEST])
                answer = (
                    await handler(req) if isinstance(req, dict) else {"ok": False, "error": "not an object"}
                )
            except ValueError as exc:
                answer = {"ok": False, "error": f"bad request: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(on_connect, str(path))
    os.chmod(path, 0o600)
    return server


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def request(path: Path, req: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """Send ``req`` to the ``up`` listening on ``path``; raises ``OSError`` when none answers."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(req).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data) if data else {"ok": False, "error": "no answer"}
    return answer if isinstance(answer, dict) else {"ok": False, "error": "bad answer"}
