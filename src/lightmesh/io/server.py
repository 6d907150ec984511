"""Listeners: accept, detect the protocol, and hand the socket to the right handler.

Every accepted connection starts with a :class:`Detect` protocol that learns the
addresses (including ``SO_ORIGINAL_DST``), then buffers the first bytes until
:func:`lightmesh.protocol.detect.detect` decides. HTTP/1 goes to an
:class:`~lightmesh.io.h1server.H1Server`, HTTP/2 (prior knowledge) to an
:class:`~lightmesh.io.h2server.H2Server`; everything else (opaque, TLS for now) to
the listener's TCP forwarder. Ports on the opaque list skip detection, so
server-speaks-first protocols work, and detection gives up after ``detect_timeout``
and continues as TCP.

Mesh TLS (a listener with ``mesh`` set, the inbound one when the proxy has an
identity): a TLS ClientHello is buffered until complete (``protocol.tlshello``); if
its SNI is this proxy's own identity the connection is terminated here with mutual
TLS (:class:`~lightmesh.io.tls.TlsConnection`, client certificate required) and the
plaintext is detected again by a new :class:`Detect` whose connection facts carry
``tls`` and the client's identity. With ALPN ``lightmesh.opaque`` the plaintext starts
with a transport header (:mod:`lightmesh.protocol.transport`) naming the port the peer's
application connected to; the rest goes to the TCP forwarder as a connection to that
port (a stream without a valid header is closed). TLS for any other name, or that is not
a well-formed ClientHello, is relayed as opaque TCP. Before the proxy has a certificate,
mesh TLS is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any, Final, cast
from typing import Protocol as TypingProtocol

from lightmesh.core.addr import SocketAddr
from lightmesh.io.context import ServerContext
from lightmesh.io.h1server import H1Server
from lightmesh.io.h2server import H2Server
from lightmesh.io.orig_dst import original_dst
from lightmesh.io.tls import TlsConnection, TlsRefused, peer_dns_names
from lightmesh.io.tlsconfig import ALPN_OPAQUE
from lightmesh.protocol.detect import Protocol, detect
from lightmesh.protocol.messages import ConnInfo
from lightmesh.protocol.tlshello import NotClientHello, parse_client_hello
from lightmesh.protocol.transport import BadTransportHeader, parse_header

log: Final = logging.getLogger(__name__)

# Given the connection facts, the detected protocol, the transport and the bytes read
# so far, take over the socket (a TCP relay).
TcpHandler = Callable[[ConnInfo, Protocol, asyncio.Transport, bytes, float], None]


class MeshServer(TypingProtocol):
    """This proxy's identity, as the inbound listener needs it to terminate mesh TLS."""

    name: str
    inbound_errors: dict[str, int]

    def server_context(self) -> ssl.SSLContext | None: ...


def listen_socket(addr: SocketAddr, backlog: int) -> socket.socket:
    """A listening socket bound to a literal address (with ``SO_REUSEADDR``).

    Bound here rather than by the loop, which would resolve the literal through
    ``getaddrinfo`` and load the IDNA codec (about 0.4 MB) for nothing.
    """
    family = socket.AF_INET6 if ":" in addr.host else socket.AF_INET
    try:
        sock = socket.create_server((addr.host, addr.port), family=family, backlog=backlog)
    except OSError as exc:
        why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise OSError(exc.errno, f"cannot listen on {addr}: {why}") from None
    sock.setblocking(False)
    return sock


class Listener:
    """Configuration shared by all connections accepted on one address."""

    def __init__(
        self,
        ctx: ServerContext,
        tcp: TcpHandler,
        opaque_ports: frozenset[int],
        detect_timeout: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.tcp = tcp
        self.opaque_ports = opaque_ports
        self.detect_timeout = detect_timeout
        self.server: asyncio.Server | None = None
        self.mesh: MeshServer | None = None  # terminate mesh TLS for this identity

    async def start(self, addr: SocketAddr, backlog: int = 1024) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        sock = listen_socket(addr, backlog)
        self.server = await loop.create_server(lambda: Detect(self), sock=sock, backlog=backlog)
        return self.server

    @property
    def bound(self) -> SocketAddr:
        assert self.server is not None
        server: Any = self.server  # ``sockets`` is a list under uvloop, a tuple in typeshed: no type check
        host, port = server.sockets[0].getsockname()[:2]
        return SocketAddr(host, port)


class Detect(asyncio.Protocol):
    def __init__(self, listener: Listener, secured: ConnInfo | None = None, started: float = 0.0) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.conn: ConnInfo | None = secured  # given: the plaintext of a terminated mesh TLS connection
        self.buffer = b""
        self.deadline: float | None = None
        self.started = started
        self.done = False
        self.opaque_transport = False  # mesh TLS with ALPN lightmesh.opaque: a transport header comes first

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ctx = self.listener.ctx
        if self.conn is not None:
            alpn = transport.get_extra_info("ssl_object").selected_alpn_protocol()
            self.opaque_transport = alpn == ALPN_OPAQUE
            self.deadline = ctx.loop.time() + self.listener.detect_timeout
            ctx.sweeper.add(self)
            return
        self.started = ctx.loop.time()
        ctx.stats.open()
        sock: socket.socket = transport.get_extra_info("socket")
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local = transport.get_extra_info("sockname")[:2]
        peer = transport.get_extra_info("peername")[:2]
        self.conn = ConnInfo(ctx.direction, peer, local, original_dst(sock))
        port = self.conn.orig_dst[1] if self.conn.redirected and self.conn.orig_dst else local[1]
        if port in self.listener.opaque_ports:
            self._handoff(Protocol.OPAQUE)
            return
        self.deadline = self.started + self.listener.detect_timeout
        ctx.sweeper.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.opaque_transport:
            self._transport_header()
            return
        found = detect(self.buffer)
        if found is Protocol.TLS and self.listener.mesh is not None and not self.conn.tls:  # type: ignore[union-attr]
            self._mesh_tls(self.listener.mesh)
        elif found is not None:
            self._handoff(found)

    def eof_received(self) -> bool:
        if self.opaque_transport:
            self._refuse("the peer closed before its transport header")
            return False
        self._handoff(Protocol.OPAQUE)  # a half-closed client: relay what it sent
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done:
            self.done = True
            ctx = self.listener.ctx
            ctx.sweeper.discard(self)
            elapsed = (ctx.loop.time() - self.started) * 1000.0
            ctx.stats.close(elapsed, len(self.buffer), 0, "failure" if exc else "success")

    def expire(self) -> None:
        if self.opaque_transport:
            self._refuse("no transport header in time")
            return
        log.debug("protocol detection timed out for %s; continuing as TCP", self.conn and self.conn.peer)
        self._handoff(Protocol.OPAQUE)

    def _transport_header(self) -> None:
        """Opaque TCP from a peer proxy: learn the target port, then relay the rest there."""
        try:
            parsed = parse_header(self.buffer)
        except BadTransportHeader as exc:
            self._refuse(str(exc))
            return
        if parsed is not None:
            port, self.buffer = parsed
            conn = self.conn
            assert conn is not None
            local = conn.local
            self.conn = ConnInfo(conn.direction, conn.peer, local, (local[0], port), True, conn.peer_id)
            self._handoff(Protocol.OPAQUE)

    def _refuse(self, why: str) -> None:
        log.info("closing mesh TCP connection from %s: %s", self.conn and self.conn.peer, why)
        if self.transport is not None:
            self.transport.abort()

    def _mesh_tls(self, mesh: MeshServer) -> None:
        try:
            hello = parse_client_hello(self.buffer)
        except NotClientHello:
            self._handoff(Protocol.TLS)
            return
        if hello is None:
            return  # wait for the rest of the ClientHello (detection timeout applies)
        if hello.server_name != mesh.name:
            self._handoff(Protocol.TLS)  # TLS for someone else: relay it untouched
            return
        context = mesh.server_context()
        transport = self.transport
        assert transport is not None
        if context is None:
            mesh.inbound_errors["no_identity"] = mesh.inbound_errors.get("no_identity", 0) + 1
            peer = self.conn and self.conn.peer
            log.info("refusing mesh TLS from %s: this proxy has no valid certificate", peer)
            transport.abort()
            return
        self.done = True
        self.listener.ctx.sweeper.discard(self)
        tls = TlsConnection(
            context, True, self._secured, self._tls_failed, handshake_timeout=self.listener.detect_timeout
        )
        tls.connection_made(transport)
        transport.set_protocol(tls)
        tls.data_received(self.buffer)

    def _secured(self, tls: TlsConnection) -> None:
        names = peer_dns_names(tls)
        if len(names) != 1:
            raise TlsRefused(f"the client certificate names {len(names)} identities, not one")
        conn = self.conn
        assert conn is not None
        secured = ConnInfo(conn.direction, conn.peer, conn.local, conn.orig_dst, tls=True, peer_id=names[0])
        inner = Detect(self.listener, secured, self.started)
        tls.set_protocol(inner)
        inner.connection_made(tls)

    def _tls_failed(self, exc: BaseException) -> None:
        mesh, ctx = self.listener.mesh, self.listener.ctx
        if mesh is not None:
            mesh.inbound_errors["handshake_failed"] = mesh.inbound_errors.get("handshake_failed", 0) + 1
        log.info("mesh TLS from %s failed: %s", self.conn and self.conn.peer, exc)
        elapsed = (ctx.loop.time() - self.started) * 1000.0
        ctx.stats.close(elapsed, len(self.buffer), 0, "failure")

    def _handoff(self, protocol: Protocol) -> None:
        if self.done:
            return
        self.done = True
        self.listener.ctx.sweeper.discard(self)
        transport, conn = self.transport, self.conn
        assert transport is not None and conn is not None
        if protocol is Protocol.HTTP1 or protocol is Protocol.HTTP2:
            server: H1Server | H2Server
            if protocol is Protocol.HTTP1:
                server = H1Server(self.listener.ctx, conn)
            else:
                server = H2Server(self.listener.ctx, conn)
            server.started = self.started
            transport.set_protocol(server)
            server.connection_made(transport)
            server.data_received(self.buffer)
            return
        self.listener.tcp(conn, protocol, transport, self.buffer, self.started)
