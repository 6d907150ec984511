"""The Destination gRPC service (grpclib): endpoint and profile streams for proxies.

``Get`` normalises the requested name (:func:`lightmesh.core.names.normalize`, short
names in the client's ``namespace``), watches the service in the :class:`Directory` and
streams what the client's :class:`EndpointView` says it is missing: the current state at
once, then changes as the discovery source reports them. A name that is not a cluster
service (an IP, another domain) gets ``no_endpoints{exists: false}`` at once, so the
client falls back to DNS. A malformed name or an unknown scheme ends the call with
INVALID_ARGUMENT.

``GetProfile`` sends the service's profile at once (no routes yet, the default retry
budget) and keeps the stream open for later changes.

Streams end when the client cancels them or the server shuts down: grpclib cancels the
handler, which then stops watching. Until the directory's first sync a stream waits rather
than answer for a service the source has not listed yet.
"""

from __future__ import annotations

import asyncio
import logging

from grpclib import GRPCError, Status
from grpclib.server import Stream

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.api.gen.destination_grpc import DestinationBase
from lightmesh.controller.directory import Directory
from lightmesh.controller.endpoints import EndpointView, NoEndpoints
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.translate import profile_message, update_kind, update_message
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, ServiceName, normalize

log = logging.getLogger(__name__)

SCHEMES = ("", "k8s")


class DestinationService(DestinationBase):
    def __init__(
        self, directory: Directory, stats: ControllerStats, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    ) -> None:
        self.directory = directory
        self.stats = stats
        self.cluster_domain = cluster_domain

    async def Get(self, stream: Stream[pb.GetDestination, pb.Update]) -> None:
        request, name = await self._receive(stream)
        log.debug("Get %r (namespace %r): %s", request.path, request.namespace, name or "not a service")
        with self.stats.subscribed("get"):
            if name is None:
                await stream.send_message(update_message(NoEndpoints(exists=False), None))
                self.stats.updates["get", "no_endpoints"] += 1
                await _until_cancelled()
            else:
                await self._follow(stream, name)

    async def GetProfile(self, stream: Stream[pb.GetDestination, pb.DestinationProfile]) -> None:
        request, name = await self._receive(stream)
        log.debug("GetProfile %r (namespace %r): %s", request.path, request.namespace, name)
        with self.stats.subscribed("get_profile"):
            await stream.send_message(profile_message(name))
            self.stats.updates["get_profile", "profile"] += 1
            await _until_cancelled()

    async def _follow(self, stream: Stream[pb.GetDestination, pb.Update], name: ServiceName) -> None:
        key = str(name)
        changed = asyncio.Event()
        unwatch = self.directory.watch(key, changed.set)
        view = EndpointView()
        try:
            while True:
                changed.clear()  # before reading: a change while sending wakes the next round
                if self.directory.synced:
                    for update in view.update(self.directory.get(key)):
                        await stream.send_message(update_message(update, name))
                        self.stats.updates["get", update_kind(update)] += 1
                await changed.wait()
        finally:
            unwatch()

    async def _receive(
        self, stream: Stream[pb.GetDestination, pb.Update] | Stream[pb.GetDestination, pb.DestinationProfile]
    ) -> tuple[pb.GetDestination, ServiceName | None]:
        request = await stream.recv_message()
        if request is None:
            raise GRPCError(Status.INVALID_ARGUMENT, "no GetDestination request")
        if request.scheme not in SCHEMES:
            raise GRPCError(Status.INVALID_ARGUMENT, f"unsupported scheme {request.scheme!r}: use 'k8s'")
        try:
            return request, normalize(request.path, request.namespace, self.cluster_domain)
        except ValueError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, f"invalid destination {request.path!r}: {exc}") from None


async def _until_cancelled() -> None:
    await asyncio.Event().wait()
