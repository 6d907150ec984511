"""What every accepted connection of one listener shares: its service, counters, timers.

A :class:`ServerContext` is created per listener. It also tracks the listener's
open connections so a graceful shutdown can close idle keep-alive connections at
once and wait for busy ones to finish their current response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from lightmesh.core.stats import TcpStats
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import Request, Response

Service = Callable[[Request], Awaitable[Response]]


class Drainable(Protocol):
    def drain(self) -> None: ...


class ServerContext:
    def __init__(
        self,
        direction: str,
        service: Service,
        stats: TcpStats,
        sweeper: Sweeper,
        *,
        header_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        h2_service: Service | None = None,
    ) -> None:
        self.direction = direction
        self.service = service
        self.h2_service = h2_service or service  # HTTP/2 requests may need more layers (deadlines)
        self.stats = stats
        self.sweeper = sweeper
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.loop = asyncio.get_running_loop()
        self.draining = False
        self.connections: set[Drainable] = set()
        # HTTP/2 stream workers waiting for a stream (io/h2server.py), each with its hand-off future
        self.h2_idle: list[tuple[asyncio.Task[None], asyncio.Future[Any]]] = []
        self._idle: asyncio.Event | None = None

    def forget(self, conn: Drainable) -> None:
        self.connections.discard(conn)
        if not self.connections and self._idle is not None:
            self._idle.set()

    def drain(self) -> None:
        """Stop keeping connections alive; idle ones close now, busy ones after their response."""
        self.draining = True
        for conn in list(self.connections):
            conn.drain()

    async def wait_closed(self) -> None:
        if not self.connections:
            return
        self._idle = asyncio.Event()
        await self._idle.wait()
