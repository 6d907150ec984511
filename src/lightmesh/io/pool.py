"""What every connection pool to one endpoint address holds, whatever the protocol.

:class:`EndpointPool` keeps the address, the connection counters and deadline
sweeper its connections report to, the connect and idle timeouts, the endpoint's
default authority (``host:port``) and its peak-EWMA load, which the balancer reads
and each pool's ``send`` updates around every request.
"""

from __future__ import annotations

import asyncio

from lightmesh.core.addr import SocketAddr
from lightmesh.core.ewma import PeakEwma
from lightmesh.core.stats import TcpStats
from lightmesh.io.sweep import Sweeper


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
        self.authority = str(addr).encode()  # when a request names none
