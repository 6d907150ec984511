"""``lightmesh proxy``: assemble the stacks, bind the listeners, run until told to stop.

Outbound: server (detect, HTTP/1 or HTTP/2) -> tap -> metrics (and errors) -> deadline
(``grpc-timeout``, ``lightmesh-deadline``) -> router (destination; for a service with
a profile: route -> timeout -> fault -> retry, back to the router) -> balancer
(failure accrual) -> endpoint pools. Inbound: server -> tap -> metrics (and errors) ->
deadline -> forwarder. Both listeners relay what is not HTTP as TCP. The admin
listener serves the counters at scrape time; the tap listener (gRPC) serves
``Tap.Observe`` to the controller and the CLI. With a controller configured, the
proxy announces itself to it (service, pod, admin and tap addresses). With an
identity (``LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME``) a
:class:`~lightmesh.proxy.identity.LocalIdentity` task keeps a certificate; the
outbound connector dials meshed endpoints with mTLS, the inbound listener terminates
mesh TLS for the proxy's own name, and the proxy is ready only while it holds a
valid certificate. After start-up, ``gc.freeze()`` moves the start-up objects
out of the collector's way. The tap layer is in front of a stack only while someone
taps (:func:`~lightmesh.proxy.layers.tap.serve_tapped`).

Shutdown (SIGTERM, SIGINT or admin ``/shutdown``): stop accepting, mark every
connection draining (idle keep-alive connections close at once, busy ones after
their current response), wait for them and for TCP relays up to the grace period,
then close what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lightmesh import native
from lightmesh.core.addr import SocketAddr
from lightmesh.core.stats import TcpStats
from lightmesh.io.context import ServerContext
from lightmesh.io.server import Listener
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.detect import Protocol
from lightmesh.protocol.messages import ConnInfo
from lightmesh.proxy.admin import AdminService
from lightmesh.proxy.config import ProxyConfig
from lightmesh.proxy.endpoint import Connector
from lightmesh.proxy.inbound import STRIPPED as INBOUND_STRIPPED
from lightmesh.proxy.inbound import InboundForwarder, inbound_target
from lightmesh.proxy.layers.deadline import deadline_layer
from lightmesh.proxy.layers.metrics import metrics_layer
from lightmesh.proxy.layers.tap import serve_tapped
from lightmesh.proxy.outbound import OutboundRouter
from lightmesh.proxy.resolve import StaticDnsResolver
from lightmesh.proxy.routestats import BalancerStates
from lightmesh.proxy.service import Service, stack
from lightmesh.proxy.taphub import TapHub
from lightmesh.proxy.taplistener import TapListener
from lightmesh.proxy.tcp import MeshTargets, TargetFn, TcpForwarder
from lightmesh.proxy.telemetry import HttpTable, MeshCollector

if TYPE_CHECKING:
    from lightmesh.proxy.announce import Announcer
    from lightmesh.proxy.identity import LocalIdentity

log = logging.getLogger("lightmesh.proxy")


@dataclass
class Side:
    ctx: ServerContext
    listener: Listener
    connector: Connector
    tcp: TcpForwarder


class Proxy:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.ready = False
        self.stopping = asyncio.Event()
        self.sweeper = Sweeper(asyncio.get_running_loop())
        self.tcp_stats = {(d, p): TcpStats(d, p) for d in ("inbound", "outbound") for p in ("src", "dst")}
        self.tcp_stats["outbound", "dst_tls"] = TcpStats("outbound", "dst", "true")  # to peers over mTLS
        self.tables = [HttpTable("inbound"), HttpTable("outbound")]
        self.router: OutboundRouter | None = None
        self.sides: list[Side] = []
        self.admin: Listener | None = None
        self.identity: LocalIdentity | None = None
        self._identity_task: asyncio.Task[None] | None = None
        self.pod = config.pod or socket.gethostname()
        own = {"namespace": config.namespace, "pod": self.pod}
        if config.service:
            own["service"] = config.service
        self.taps = TapHub(own, config.tap_redact_headers, config.inbound_forward)
        self.metrics = MeshCollector(self.tables, list(self.tcp_stats.values()), self.taps.families)
        self.tap_server: TapListener | None = None
        self.announcer: Announcer | None = None

    def is_ready(self) -> bool:
        return self.ready and (self.identity is None or self.identity.valid)

    def _start_identity(self) -> None:
        cfg = self.config
        if cfg.identity_local_name is None:
            return
        from lightmesh.proxy.identity import GrpcCertifier, LocalIdentity  # cryptography only when needed

        addr = cfg.identity_service_addr
        assert addr is not None and cfg.identity_token_file and cfg.identity_trust_anchors
        self.identity = LocalIdentity(
            cfg.identity_local_name,
            Path(cfg.identity_token_file),
            Path(cfg.identity_trust_anchors),
            GrpcCertifier(addr),
        )
        self.metrics.extra.append(self.identity.families)
        self._identity_task = asyncio.get_running_loop().create_task(self.identity.run())

    async def start(self) -> None:
        cfg = self.config
        self._start_identity()
        out_conn = Connector(
            self.tcp_stats["outbound", "dst"],
            self.sweeper,
            cfg.outbound_connect_timeout,
            cfg.pool_idle_timeout,
        )
        in_conn = Connector(  # one local target, no balancer: its pools skip load tracking
            self.tcp_stats["inbound", "dst"],
            self.sweeper,
            cfg.inbound_connect_timeout,
            cfg.pool_idle_timeout,
            balanced=False,
        )
        out_conn.tls_source = self.identity
        out_conn.tls_stats = self.tcp_stats["outbound", "dst_tls"]
        own = {cfg.outbound_listen_addr, cfg.inbound_listen_addr}
        discovery = None
        if cfg.controller_addr is not None:
            from lightmesh.proxy.discovery import DestinationClient  # grpclib only when needed

            discovery = DestinationClient(cfg.controller_addr, cfg.namespace)
        self.router = OutboundRouter(
            StaticDnsResolver(cfg.static_destinations),
            out_conn,
            own,
            cfg.dns_ttl,
            discovery,
            cfg.outbound_failfast_timeout,
        )
        forwarder = InboundForwarder(cfg.inbound_forward, in_conn)
        router = self.router
        self.metrics.extra += [router.route_table.collect, BalancerStates(router.balancers).collect]
        # lightmesh-deadline (any HTTP version) and grpc-timeout: both stacks carry the deadline layer
        outbound = stack(self.router.route, deadline_layer(), metrics_layer(self.tables[1]))
        inbound = stack(
            forwarder.send,
            deadline_layer(strip=INBOUND_STRIPPED),
            metrics_layer(self.tables[0]),
        )
        outbound_h2, inbound_h2 = outbound, inbound
        self.sides = [
            await self._bind(
                "outbound", (outbound, outbound_h2), out_conn, cfg.outbound_listen_addr, _outbound_tcp_target
            ),
            await self._bind(
                "inbound",
                (inbound, inbound_h2),
                in_conn,
                cfg.inbound_listen_addr,
                lambda conn: inbound_target(cfg.inbound_forward, conn),
            ),
        ]
        for ctx in (side.ctx for side in self.sides):  # the tap layer only while someone taps
            serve_tapped(self.taps, ctx.direction, ctx.service, partial(setattr, ctx, "service"))
            serve_tapped(self.taps, ctx.direction, ctx.h2_service, partial(setattr, ctx, "h2_service"))
        self.sides[1].listener.mesh = self.identity
        if discovery is not None and self.identity is not None:  # opaque TCP to meshed pods over mTLS
            self.sides[0].tcp.mesh = MeshTargets(
                discovery,
                self.identity,
                cfg.outbound_connect_timeout,
                cfg.opaque_ports,
                self.tcp_stats["outbound", "dst_tls"],
            )
        own.update(side.listener.bound for side in self.sides)
        shutdown = self.stop if cfg.admin_shutdown else None
        identity_info = self.identity.info if self.identity is not None else None
        admin_ctx = ServerContext(
            "admin",
            AdminService(self.metrics, self.is_ready, shutdown, identity_info),
            TcpStats("admin", "src"),
            self.sweeper,
            header_timeout=cfg.header_read_timeout,
            idle_timeout=cfg.idle_timeout,
        )
        self.admin = Listener(admin_ctx, _refuse_tcp, frozenset(), cfg.detect_timeout)
        await self.admin.start(cfg.admin_listen_addr)
        if cfg.tap_listen_addr is not None:
            self.tap_server = TapListener(self.taps)
            await self.tap_server.start(cfg.tap_listen_addr)
        self.ready = True
        log.info(
            "proxy %s: outbound %s, inbound %s -> %s, admin %s, tap %s; hot path %s",
            "started, ready once certified" if self.identity is not None else "ready",
            self.sides[0].listener.bound,
            self.sides[1].listener.bound,
            cfg.inbound_forward or "original destination",
            self.admin.bound,
            cfg.tap_listen_addr or "off",
            native.STATUS[1],
        )
        if cfg.controller_addr is not None:
            from lightmesh.proxy.announce import Announcer

            admin_addr = SocketAddr(cfg.admin_listen_addr.host, self.admin.bound.port)
            self.announcer = Announcer(
                cfg.controller_addr,
                cfg.namespace,
                cfg.service,
                self.pod,
                admin_addr,
                cfg.tap_listen_addr,
                cfg.identity_local_name
                or "",  # `lightmesh check` checks the certificate of those that have one
            )

    async def _bind(
        self,
        direction: str,
        services: tuple[Service, Service],
        connector: Connector,
        addr: SocketAddr,
        target: TargetFn,
    ) -> Side:
        cfg = self.config
        ctx = ServerContext(
            direction,
            services[0],
            self.tcp_stats[direction, "src"],
            self.sweeper,
            header_timeout=cfg.header_read_timeout,
            idle_timeout=cfg.idle_timeout,
            h2_service=services[1],
        )
        tcp = TcpForwarder(
            target,
            self.tcp_stats[direction, "src"],
            self.tcp_stats[direction, "dst"],
            connector.connect_timeout,
        )
        listener = Listener(ctx, tcp, self.config.opaque_ports, cfg.detect_timeout)
        await listener.start(addr)
        return Side(ctx, listener, connector, tcp)

    def stop(self) -> None:
        self.stopping.set()

    async def shutdown(self) -> None:
        grace = self.config.shutdown_grace_period
        log.info("shutting down: draining connections for up to %.0fs", grace)
        self.ready = False
        if self.announcer is not None:
            self.announcer.close()
        if self.tap_server is not None:
            self.tap_server.close()
        for side in self.sides:
            if side.listener.server is not None:
                side.listener.server.close()
            side.ctx.drain()
        waits = [side.ctx.wait_closed() for side in self.sides] + [
            side.tcp.wait_closed() for side in self.sides
        ]
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*waits)
        except TimeoutError:
            log.warning("grace period over: closing the remaining connections")
        for side in self.sides:
            side.connector.close()
            if side.tcp.mesh is not None:
                side.tcp.mesh.close()
        if self.router is not None:
            self.router.close()
        if self._identity_task is not None:
            self._identity_task.cancel()
            assert self.identity is not None
            close = getattr(self.identity.certifier, "close", None)
            if close is not None:
                close()
        if self.admin is not None and self.admin.server is not None:
            self.admin.server.close()
        self.sweeper.close()
        log.info("proxy stopped")


def _outbound_tcp_target(conn: ConnInfo) -> SocketAddr | None:
    if conn.redirected and conn.orig_dst is not None:
        return SocketAddr(*conn.orig_dst)
    return None


def _refuse_tcp(
    conn: ConnInfo, protocol: Protocol, transport: asyncio.Transport, early: bytes, started: float
) -> None:
    transport.close()


async def serve(config: ProxyConfig) -> None:
    proxy = Proxy(config)
    await proxy.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, proxy.stop)
    gc.collect()
    gc.freeze()
    await proxy.stopping.wait()
    await proxy.shutdown()


def run(config: ProxyConfig) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
