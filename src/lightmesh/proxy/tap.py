"""The proxy's tap server: ``lightmesh.tap.Tap/Observe`` over gRPC (grpclib).

It listens on ``LIGHTMESH_PROXY_TAP_LISTEN_ADDR`` (default ``0.0.0.0:4190``; empty
turns tap off), started by :class:`~lightmesh.proxy.taplistener.TapListener` when the
first client connects. Each ``Observe`` call compiles its match tree, registers an
:class:`~lightmesh.proxy.layers.tap.Observer` with the :class:`TapHub` shared by
both stacks' tap layers, and streams the observer's events until the client
cancels, the request ``limit`` was reached and those requests ended, or the proxy
shuts down. When the call ends the observer is removed, so the layers go back to
doing nothing. ``max_rps`` above :data:`MAX_RPS` is lowered to it.
"""

from __future__ import annotations

import logging
import math
import time

from grpclib import GRPCError, Status
from grpclib.server import Server, Stream

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.api.gen.tap_grpc import TapBase
from lightmesh.proxy.taphub import Observer, TapHub
from lightmesh.proxy.tapmatch import compile_match

log = logging.getLogger(__name__)
MAX_RPS = 10_000.0


class TapService(TapBase):
    def __init__(self, hub: TapHub) -> None:
        self.hub = hub

    async def Observe(self, stream: Stream[pb.ObserveRequest, pb.TapEvent]) -> None:
        request = await stream.recv_message()
        if request is None:
            raise GRPCError(Status.INVALID_ARGUMENT, "no ObserveRequest")
        if not math.isfinite(request.max_rps) or request.max_rps < 0:
            raise GRPCError(Status.INVALID_ARGUMENT, f"max_rps must be 0 or more, got {request.max_rps}")
        try:
            predicate = compile_match(request.match if request.HasField("match") else None)
        except ValueError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, f"invalid match: {exc}") from None
        observer = Observer(predicate, min(request.max_rps, MAX_RPS), request.limit, time.monotonic())
        peer = stream.peer.addr() if stream.peer is not None else None
        log.info("tap started by %s (limit %d, max %.1f rps)", peer, request.limit, observer.bucket.rate)
        self.hub.add(observer)
        try:
            while not (observer.settled.is_set() and observer.queue.empty()):
                event = await observer.queue.get()
                if event is not None:
                    await stream.send_message(event)
        finally:
            self.hub.remove(observer)
            log.info("tap by %s ended: %d requests, %d events dropped", peer, observer.seen, observer.dropped)


def tap_server(hub: TapHub) -> Server:
    """The gRPC server for ``hub``'s taps, not started (see :mod:`lightmesh.proxy.taplistener`)."""
    return Server([TapService(hub)])
