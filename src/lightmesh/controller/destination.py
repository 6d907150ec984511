"""The Destination gRPC service (grpclib): endpoint and profile streams for proxies.

``Get`` normalises the requested name (:func:`lightmesh.core.names.normalize`, short
names in the client's ``namespace``), watches the service in the :class:`Directory` and
streams what :meth:`Directory.catch_up` says the client is missing: the current state at
once, then changes as the discovery source reports them (a stream that fell behind gets
the latest state, not every change). The streams of a service share each change: one
diff in the directory, one :class:`EncodedUpdate` per message of it here (kept while
the directory keeps the delta). An IP address with a port (what a proxy asks for a
connection redirected to a pod) is followed the same way as the one endpoint of a service
that lists it, with its identity and protocol hint, or ``no_endpoints{exists: false}``
while no service does. Another name that is not a cluster service (another domain) gets
``no_endpoints{exists: false}`` at once, so the client falls back to DNS. A malformed
name or an unknown scheme ends the call with INVALID_ARGUMENT.

``GetProfile`` sends the service's profile at once (from the :class:`ProfileBook` the
source fills: the registry's ``profiles:`` or ``ServiceProfile`` resources; without one,
no routes and the default retry budget) and a new one whenever it changes.

Streams end when the client cancels them or the server shuts down: grpclib cancels the
handler, which then stops watching. Until the directory's first sync a stream waits rather
than answer for a service the source has not listed yet.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from grpclib import GRPCError, Status
from grpclib.const import Handler
from grpclib.server import Stream

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.api.gen.destination_grpc import DestinationBase
from lightmesh.controller.directory import Cursor, Delta, Directory
from lightmesh.controller.endpoints import NoEndpoints
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.profiles import ProfileBook
from lightmesh.controller.registryfast import normalize_address
from lightmesh.controller.translate import EncodedUpdate, profile_message
from lightmesh.core.addr import SocketAddr, split_host_port
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, ServiceName, normalize

log = logging.getLogger(__name__)

SCHEMES = ("", "k8s")
GET = "/lightmesh.destination.Destination/Get"
NOT_A_SERVICE = EncodedUpdate(NoEndpoints(exists=False), None)

# Get's messages are EncodedUpdates (pre-serialized Updates): see __mapping__
UpdateStream = Stream[pb.GetDestination, Any]


class DestinationService(DestinationBase):
    def __init__(
        self,
        directory: Directory,
        stats: ControllerStats,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        profiles: ProfileBook | None = None,
    ) -> None:
        self.directory = directory
        self.profiles = profiles if profiles is not None else ProfileBook()
        self.stats = stats
        self.cluster_domain = cluster_domain
        self._encoded: weakref.WeakKeyDictionary[Delta, tuple[EncodedUpdate, ...]]
        self._encoded = weakref.WeakKeyDictionary()

    def __mapping__(self) -> dict[str, Handler]:
        """The generated handlers, ``Get`` sending :class:`EncodedUpdate` messages."""
        mapping = super().__mapping__()
        mapping[GET] = mapping[GET]._replace(reply_type=EncodedUpdate)
        return mapping

    async def Get(self, stream: UpdateStream) -> None:
        request, name = await self._receive(stream)
        addr = _ip_address(request.path) if name is None else None
        log.debug(
            "Get %r (namespace %r): %s", request.path, request.namespace, name or addr or "not a service"
        )
        with self.stats.subscribed("get"):
            if name is not None:
                await self._follow(stream, str(name), name)
            elif addr is not None:
                await self._follow(stream, str(addr), None)
            else:
                await stream.send_message(NOT_A_SERVICE)
                self.stats.updates["get", NOT_A_SERVICE.kind] += 1
                await _until_cancelled()

    async def GetProfile(self, stream: Stream[pb.GetDestination, pb.DestinationProfile]) -> None:
        request, name = await self._receive(stream)
        log.debug("GetProfile %r (namespace %r): %s", request.path, request.namespace, name)
        with self.stats.subscribed("get_profile"):
            if name is None:
                await stream.send_message(profile_message(None))
                self.stats.updates["get_profile", "profile"] += 1
                await _until_cancelled()
            else:
                await self._follow_profile(stream, name)

    async def _follow_profile(
        self, stream: Stream[pb.GetDestination, pb.DestinationProfile], name: ServiceName
    ) -> None:
        changed = asyncio.Event()
        unwatch = self.profiles.watch(name.host, changed.set)
        try:
            sent: object = ...
            while True:
                changed.clear()
                spec = self.profiles.get(name.host)
                if spec is not sent:
                    await stream.send_message(profile_message(name, spec))
                    self.stats.updates["get_profile", "profile"] += 1
                    sent = spec
                await changed.wait()
        finally:
            unwatch()

    async def _follow(self, stream: UpdateStream, key: str, name: ServiceName | None) -> None:
        """Stream the state of directory ``key``: a service (``name``) or an endpoint address."""
        changed = asyncio.Event()
        unwatch = self.directory.watch(key, changed.set)
        cursor = Cursor()
        try:
            while True:
                changed.clear()  # before reading: a change while sending wakes the next round
                if (delta := self.directory.catch_up(key, cursor)) is not None:
                    for message in self._messages(delta, name):
                        await stream.send_message(message)
                        self.stats.updates["get", message.kind] += 1
                await changed.wait()
        finally:
            unwatch()

    def _messages(self, delta: Delta, name: ServiceName | None) -> tuple[EncodedUpdate, ...]:
        """The delta's updates encoded; the first stream to send a delta encodes it for all."""
        messages = self._encoded.get(delta)
        if messages is None:
            messages = self._encoded[delta] = tuple(EncodedUpdate(u, name) for u in delta.updates)
        return messages

    async def _receive(
        self, stream: UpdateStream | Stream[pb.GetDestination, pb.DestinationProfile]
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


def _ip_address(path: str) -> SocketAddr | None:
    """``ip:port`` (IPv6 in brackets) in the form the registry and the directory use; ``None``
    for anything else."""
    try:
        return SocketAddr(*split_host_port(normalize_address(path)))
    except ValueError:
        return None


async def _until_cancelled() -> None:
    await asyncio.Event().wait()
