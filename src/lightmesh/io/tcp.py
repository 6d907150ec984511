"""Opaque TCP: a bidirectional relay between two transports with half-close.

Each side is a :class:`Pipe` protocol; bytes read on one side are written to the
other. When a peer's write buffer fills, the other side stops reading until it
drains (back-pressure both ways). An EOF from one side is passed on as a
``write_eof`` so protocols that half-close keep working; the relay ends when both
directions are finished or either side fails, and each side records its bytes and
duration in its :class:`~lightmesh.core.stats.TcpStats` when it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from lightmesh.core.classify import FAILURE, SUCCESS
from lightmesh.core.stats import TcpStats

log: Final = logging.getLogger(__name__)


class Pipe(asyncio.Protocol):
    """One side of a relay. ``peer`` is the other side; ``stats`` counts this socket."""

    def __init__(self, stats: TcpStats | None) -> None:
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.read = 0
        self.written = 0
        self.eof = False
        self.closed = False
        self.failed = False
        self._pending: list[bytes] = []
        self._started = 0.0
        self._done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._started = asyncio.get_running_loop().time()
        if self.stats is not None:
            self.stats.open()

    def adopt(self, transport: asyncio.Transport, started: float, counted: bool = True) -> None:
        """Take over a transport some other protocol accepted and already counted."""
        self.transport = transport
        self._started = started
        if not counted and self.stats is not None:
            self.stats.open()
        transport.set_protocol(self)

    def send(self, data: bytes) -> None:
        if self.transport is None or self.closed:
            return
        self.written += len(data)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        peer = self.peer
        if peer is None:
            self._pending.append(data)
        else:
            peer.send(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            if peer.eof:  # both directions finished
                peer.transport.close()
                return False
        return True  # keep our write side open for the half-closed peer

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.failed = self.failed or exc is not None
        if self.stats is not None:
            elapsed = (asyncio.get_running_loop().time() - self._started) * 1000.0
            self.stats.close(elapsed, self.read, self.written, FAILURE if self.failed else SUCCESS)
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if exc is not None:
                peer.failed = True
                peer.transport.abort()
            else:
                peer.transport.close()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def wait_closed(self) -> asyncio.Future[None]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            if self.closed:
                self._done.set_result(None)
        return self._done


def join(a: Pipe, b: Pipe, a_pending: bytes = b"", b_pending: bytes = b"") -> None:
    """Connect two pipes; ``x_pending`` are bytes already read from side x."""
    a.peer, b.peer = b, a
    for side, other, early in ((a, b, a_pending), (b, a, b_pending)):
        if early:
            side.read += len(early)
            other.send(early)
        for data in side._pending:
            other.send(data)
        side._pending.clear()
    for side, other in ((a, b), (b, a)):
        if side.eof and other.transport is not None and other.transport.can_write_eof():
            other.transport.write_eof()
        if side.closed and other.transport is not None:
            other.transport.close()
