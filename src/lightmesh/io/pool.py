"""What every connection pool to one endpoint address holds, whatever the protocol.

:class:`EndpointPool` keeps the address, the connection counters and deadline
sweeper its connections report to, the connect and idle timeouts, the endpoint's
default authority (``host:port``) and its peak-EWMA load, which the balancer reads
and each pool's ``send`` updates around every request (an HTTP/1 pool that is not
``balanced`` skips that: nothing reads the load of the inbound side's single target).

An endpoint that is a meshed proxy with a known identity (``server_id``) is dialled
with mutual TLS when the proxy has an identity of its own (``tls_source``): each new
connection takes the current client context, so a certificate refresh reaches new
connections while existing ones keep theirs, and counts in ``tls_stats`` (the
``tls="true"`` connection metrics) when one is set.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from mypy_extensions import mypyc_attr

from lightmesh.core.addr import SocketAddr
from lightmesh.core.ewma import PeakEwma
from lightmesh.core.stats import TcpStats
from lightmesh.io.connect import ClientTls
from lightmesh.io.sweep import Sweeper


def counted_in(stats: TcpStats, tls_stats: TcpStats | None, tls: ClientTls | None) -> TcpStats:
    """Where a new connection counts: mesh TLS ones in ``tls_stats`` when there is one."""
    return stats if tls is None or tls_stats is None else tls_stats


class TlsSource(Protocol):
    def client_tls(self, server_name: str, alpn: str) -> ClientTls:
        """Client TLS for a server that must prove ``server_name``; ``ProxyError`` when impossible."""
        ...


@mypyc_attr(allow_interpreted_subclasses=True)  # tests stand in fakes
class EndpointPool:
    def __init__(
        self,
        addr: SocketAddr,
        stats: TcpStats,
        sweeper: Sweeper,
        connect_timeout: float = 1.0,
        idle_timeout: float = 3.0,
    ) -> None:
        self.addr = addr
        self.stats = stats
        self.sweeper = sweeper
        self.loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.load = PeakEwma(self.loop.time())  # the balancer's cost for this endpoint
        self.balanced = True  # a balancer reads ``load``: keep it up to date
        self.authority = str(addr).encode()  # when a request names none
        self.tls_source: TlsSource | None = None  # this proxy's identity, when it has one
        self.server_id: str | None = None  # the identity the endpoint must prove (from discovery)
        self.tls_stats: TcpStats | None = None  # where mesh TLS connections count, if apart

    def conn_stats(self, tls: ClientTls | None) -> TcpStats:
        return counted_in(self.stats, self.tls_stats, tls)

    def client_tls(self, alpn: str) -> ClientTls | None:
        """Mutual TLS for a new connection, or ``None`` for plaintext."""
        if self.server_id is None or self.tls_source is None:
            return None
        return self.tls_source.client_tls(self.server_id, alpn)
