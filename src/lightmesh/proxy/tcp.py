"""Forwarding connections that are not HTTP/1 (opaque TCP, TLS, HTTP/2 for now) as bytes.

The accepted socket becomes one :class:`~lightmesh.io.tcp.Pipe`, a new connection
to the target the other, and bytes already read during detection are sent first.
Active relays are tracked so a graceful shutdown can wait for them.

On the outbound side, with a controller and an identity of its own, the forwarder asks
:class:`MeshTargets` about the original destination: the controller answers an
``ip:port`` lookup with the pod at that address, or with every pod of the service whose
virtual IP it is (then one is picked at random per connection, as kube-proxy would). A
meshed pod (one with an identity) is dialled with mutual TLS (ALPN ``lightmesh.opaque``)
at the port its proxy takes opaque TCP on (the ``opaque_transport`` hint), must prove
that identity, and is sent a transport header naming the pod's application port
(:mod:`lightmesh.protocol.transport`); its proxy relays the plaintext there. Without the
hint the pod is dialled at its application port, except where its proxy would relay
without detecting (the opaque port list, an endpoint marked opaque). Addresses the
controller does not know, pods without an identity, and connections the controller does
not answer for within the connect timeout are relayed as they were sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ProxyError, UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import ClientTls, open_connection
from lightmesh.io.pool import TlsSource
from lightmesh.io.tcp import Pipe, join
from lightmesh.io.tlsconfig import ALPN_OPAQUE
from lightmesh.protocol.detect import Protocol
from lightmesh.protocol.messages import ConnInfo
from lightmesh.protocol.transport import encode_header

if TYPE_CHECKING:
    from lightmesh.proxy.discovery import DestinationClient, Watch

log = logging.getLogger(__name__)

TargetFn = Callable[[ConnInfo], SocketAddr | None]
MAX_WATCHES = 1024  # original destinations followed at once; the least recently used is dropped


@dataclass(frozen=True, slots=True)
class MeshRoute:
    """A connection to a meshed pod: dial ``addr`` with ``tls``, send ``header`` first, count
    it in ``stats`` (``tls="true"``)."""

    addr: SocketAddr
    tls: ClientTls
    header: bytes
    stats: TcpStats


class MeshTargets:
    """Which original destinations are meshed pods, and the mutual TLS to reach them."""

    def __init__(
        self,
        discovery: DestinationClient,
        tls_source: TlsSource,
        timeout: float,
        opaque_ports: frozenset[int],
        stats: TcpStats,
    ) -> None:
        self.discovery = discovery
        self.tls_source = tls_source
        self.timeout = timeout
        self.opaque_ports = opaque_ports
        self.stats = stats  # where its connections count (tls="true")
        self.rng = random.Random()
        self.watches: OrderedDict[SocketAddr, Watch] = OrderedDict()

    async def route(self, addr: SocketAddr) -> MeshRoute | None:
        """How to reach ``addr`` over the mesh, or ``None`` to relay the connection as sent."""
        watch = self._watch(addr)
        if not watch.answered.is_set():
            try:
                async with asyncio.timeout(self.timeout):
                    await watch.answered.wait()
            except TimeoutError:
                log.info(
                    "controller did not answer for %s within %.0fms: relaying as sent",
                    addr,
                    self.timeout * 1e3,
                )
                return None
        endpoint = watch.endpoints.get(addr)
        if endpoint is None and watch.endpoints:  # a service's virtual IP: one of its pods
            endpoint = self.rng.choice(list(watch.endpoints.values()))
        if endpoint is None or endpoint.identity is None:
            return None
        pod = endpoint.addr
        if endpoint.inbound_port is not None:
            dial = SocketAddr(pod.host, endpoint.inbound_port)
        elif pod.port in self.opaque_ports or endpoint.opaque:
            return None  # its proxy relays this port without detecting: it would not see the ClientHello
        else:
            dial = pod
        tls = self.tls_source.client_tls(endpoint.identity, ALPN_OPAQUE)
        return MeshRoute(dial, tls, encode_header(pod.port), self.stats)

    def _watch(self, addr: SocketAddr) -> Watch:
        watch = self.watches.get(addr)
        if watch is not None:
            self.watches.move_to_end(addr)
            return watch
        watch = self.watches[addr] = self.discovery.watch(str(addr))
        if len(self.watches) > MAX_WATCHES:
            self.watches.popitem(last=False)[1].close()
        return watch

    def close(self) -> None:
        for watch in self.watches.values():
            watch.close()
        self.watches.clear()


class TcpForwarder:
    def __init__(self, target: TargetFn, src: TcpStats, dst: TcpStats, connect_timeout: float) -> None:
        self.target = target
        self.src = src
        self.dst = dst
        self.connect_timeout = connect_timeout
        self.active: set[Pipe] = set()
        self.mesh: MeshTargets | None = None  # outbound, with a controller and an identity

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
            route = await self.mesh.route(target) if self.mesh is not None else None
            if route is None:
                _, up = await open_connection(target, lambda: Pipe(self.dst), self.connect_timeout)
            else:
                _, up = await open_connection(
                    route.addr, lambda: Pipe(route.stats), self.connect_timeout, route.tls
                )
                up.send(route.header)
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
