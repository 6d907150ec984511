"""The tap listener: bound at start-up, served by grpclib from the first connection on.

Tap is rarely used, and its server (grpclib, the protobuf runtime, ``tap.proto``) costs
a few megabytes of memory. :class:`TapListener` binds and listens on the tap address when
the proxy starts, so a port conflict is reported then, and waits for the listening
socket to become readable: a client is in the accept queue. Only then does it import
:mod:`lightmesh.proxy.tap` and hand the socket, with that client still queued, to the
gRPC server (``Server.start(sock=...)``); from then on grpclib accepts every connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from lightmesh.core.addr import SocketAddr
from lightmesh.io.server import listen_socket
from lightmesh.proxy.taphub import TapHub

if TYPE_CHECKING:
    from grpclib.server import Server

log = logging.getLogger(__name__)
BACKLOG = 100


class TapListener:
    def __init__(self, hub: TapHub) -> None:
        self.hub = hub
        self.sock: socket.socket | None = None
        self.server: Server | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def bound(self) -> SocketAddr:
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        return SocketAddr(host, port)

    async def start(self, addr: SocketAddr) -> None:
        self.sock = listen_socket(addr, BACKLOG)
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._first_client)

    def _first_client(self) -> None:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.sock.fileno())
        self._starting = loop.create_task(self._serve(self.sock))

    async def _serve(self, sock: socket.socket) -> None:
        from lightmesh.proxy.tap import tap_server  # grpclib and protobuf: only once someone taps

        server = tap_server(self.hub)
        await server.start(sock=sock)
        self.server = server
        log.debug("tap server started on %s", self.bound)

    def close(self) -> None:
        """Stop accepting taps; open ones end with their connections."""
        if self.server is not None:
            self.server.close()
        elif self.sock is not None:
            if self._starting is not None:
                self._starting.cancel()
            else:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
