"""The endpoint stage: connection pools to one address, and raw tunnels for CONNECT.

:class:`Connector` owns every pool of one direction: HTTP/1 pools keyed by
``(address, authority)`` so requests for different hosts never share an upstream
connection, and one multiplexed HTTP/2 pool per address (each stream carries its
own ``:authority``). A request goes upstream in the protocol its client spoke.
It also opens raw TCP connections for tunnels. A connector made with
``balanced=False`` (the inbound side, which forwards to one local target) makes
pools, HTTP/1 and HTTP/2, that keep no load estimate, since no balancer reads it.

With an identity of its own (``tls_source``), the connector dials every endpoint
whose identity discovery reported (:meth:`Connector.set_identity`) with mutual TLS,
requiring that identity from the server; a CONNECT tunnel to one goes without ALPN,
so the peer proxy detects the protocol of the tunnelled bytes as it would in plaintext
(HTTP in a tunnel still loses a forged ``lightmesh-client-id`` and gains the real one).
Mesh TLS connections count in ``tls_stats`` (``tcp_*{tls="true"}``) when it is set.

On the inbound side the authority of an HTTP/1 pool comes from the client (``Host``),
so an unbalanced connector bounds its pools (:data:`MAX_POOLS`): making room drops the
pools that hold no idle connection, then, if half the bound is still taken, the oldest
ones, closing their idle connections. A request in flight on a dropped pool is not
disturbed; its connection is closed once idle. A balanced (outbound) connector keeps
every pool: balancers hold them, and identity updates (:meth:`Connector.set_identity`)
must reach each one.
"""

from __future__ import annotations

from typing import Final

from lightmesh.core.addr import SocketAddr
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import open_connection
from lightmesh.io.h1client import Pool
from lightmesh.io.h2client import H2Pool, NotHttp2
from lightmesh.io.pool import EndpointPool, TlsSource, counted_in
from lightmesh.io.sweep import Sweeper
from lightmesh.io.tcp import Pipe
from lightmesh.io.tlsconfig import ALPN_DETECT
from lightmesh.protocol.messages import NO_BODY, Request, Response
from lightmesh.proxy import orig_proto

MAX_POOLS: Final = 1024  # inbound HTTP/1 pools: one per (address, authority)


class Connector:
    def __init__(
        self,
        stats: TcpStats,
        sweeper: Sweeper,
        connect_timeout: float,
        pool_idle_timeout: float,
        *,
        balanced: bool = True,
    ) -> None:
        self.stats = stats
        self.balanced = balanced
        self.sweeper = sweeper
        self.connect_timeout = connect_timeout
        self.pool_idle_timeout = pool_idle_timeout
        self.pools: dict[tuple[SocketAddr, bytes | None], Pool] = {}
        self.h2_pools: dict[SocketAddr, H2Pool] = {}
        self.tls_source: TlsSource | None = None
        self.tls_stats: TcpStats | None = None  # where mesh TLS connections count (tls="true")
        self.identities: dict[SocketAddr, str] = {}  # endpoints that must prove an identity

    def set_identity(self, addr: SocketAddr, identity: str | None) -> None:
        """The identity ``addr`` must prove (``None``: plaintext); applies to new connections."""
        if self.identities.get(addr) == identity:
            return
        if identity is None:
            del self.identities[addr]
        else:
            self.identities[addr] = identity
        for key, pool in self.pools.items():
            if key[0] == addr:
                pool.server_id = identity
        if addr in self.h2_pools:
            self.h2_pools[addr].server_id = identity

    def _configure(self, pool: EndpointPool) -> None:
        pool.balanced = self.balanced
        pool.tls_source = self.tls_source
        pool.server_id = self.identities.get(pool.addr)
        pool.tls_stats = self.tls_stats

    def pool(self, addr: SocketAddr, authority: bytes | None) -> Pool:
        key = (addr, authority)
        pool = self.pools.get(key)
        if pool is None:
            if len(self.pools) >= MAX_POOLS and not self.balanced:
                self._make_room()
            pool = self.pools[key] = Pool(
                addr, self.stats, self.sweeper, self.connect_timeout, self.pool_idle_timeout
            )
            self._configure(pool)
        return pool

    def _make_room(self) -> None:
        pools = self.pools
        for key in [key for key, pool in pools.items() if not pool.idle]:
            del pools[key]
        while len(pools) >= MAX_POOLS // 2:  # each holds idle connections: drop the oldest
            pools.pop(next(iter(pools))).close()

    def h2_pool(self, addr: SocketAddr) -> H2Pool:
        pool = self.h2_pools.get(addr)
        if pool is None:
            pool = self.h2_pools[addr] = H2Pool(
                addr, self.stats, self.sweeper, self.connect_timeout, self.pool_idle_timeout
            )
            self._configure(pool)
        return pool

    async def send_http2(self, pool: H2Pool, request: Request) -> Response:
        """Send an HTTP/2 request, as HTTP/1 to an endpoint found to speak HTTP/1 only.

        The first request that finds out fails with a clear 502 unless it had no body
        (then it is retried as HTTP/1 at once); later ones go as HTTP/1 directly.
        """
        if not pool.http1_only:
            try:
                return await pool.send(request)
            except NotHttp2:
                if request.body is not NO_BODY:
                    raise
        orig_proto.to_http1(request)
        response = await self.pool(pool.addr, request.authority).send(request)
        orig_proto.upgrade_response(response)
        return response

    async def tunnel(self, addr: SocketAddr) -> Response:
        """Open a raw connection to ``addr`` and answer a CONNECT with it."""
        tls = None
        server_id = self.identities.get(addr)
        if server_id is not None and self.tls_source is not None:
            tls = self.tls_source.client_tls(server_id, ALPN_DETECT)  # the peer detects what the bytes are
        stats = counted_in(self.stats, self.tls_stats, tls)
        _, pipe = await open_connection(addr, lambda: Pipe(stats), self.connect_timeout, tls)
        if pipe.transport is not None:
            pipe.transport.pause_reading()  # resumed when the relay is joined
        response = Response(200, [], NO_BODY, reason=b"Connection established")
        response.tunnel = pipe
        return response

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
        for h2 in self.h2_pools.values():
            h2.close()
        self.h2_pools.clear()
