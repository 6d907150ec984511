"""Forwarding connections that are not HTTP/1 (opaque TCP, TLS, HTTP/2 for now) as bytes.

The accepted socket becomes one :class:`~lightmesh.io.tcp.Pipe`, a new connection
to the target the other, and bytes already read during detection are sent first.
Active relays are tracked so a graceful shutdown can wait for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ProxyError, UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import open_connection
from lightmesh.io.tcp import Pipe, join
from lightmesh.protocol.detect import Protocol
from lightmesh.protocol.messages import ConnInfo

log = logging.getLogger(__name__)

TargetFn = Callable[[ConnInfo], SocketAddr | None]


class TcpForwarder:
    def __init__(self, target: TargetFn, src: TcpStats, dst: TcpStats, connect_timeout: float) -> None:
        self.target = target
        self.src = src
        self.dst = dst
        self.connect_timeout = connect_timeout
        self.active: set[Pipe] = set()

    def __call__(
        self, conn: ConnInfo, protocol: Protocol, transport: asyncio.Transport, early: bytes, started: float
    ) -> None:
        """Take the socket over now (bytes arriving meanwhile wait in the pipe), then dial."""
        down = Pipe(self.src)
        down.adopt(transport, started)
        down.read = len(early)
        if early:
            down._pending.append(early)
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._connect(conn, protocol, down))
        self.active.add(down)
        down.wait_closed().add_done_callback(lambda _: self.active.discard(down))
        task.add_done_callback(_log_failure)

    async def _connect(self, conn: ConnInfo, protocol: Protocol, down: Pipe) -> None:
        transport = down.transport
        assert transport is not None
        try:
            target = self.target(conn)
            if target is None:
                raise UpstreamError("no original destination (the connection was not redirected)")
            _, up = await open_connection(target, lambda: Pipe(self.dst), self.connect_timeout)
        except ProxyError as exc:
            log.info("cannot forward %s connection from %s: %s", protocol.value, conn.peer, exc.reason)
            down.failed = True
            transport.abort()
            return
        join(down, up)
        if not down.closed:
            transport.resume_reading()

    async def wait_closed(self) -> None:
        while self.active:
            await asyncio.gather(*(pipe.wait_closed() for pipe in list(self.active)))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("TCP forward failed", exc_info=task.exception())
