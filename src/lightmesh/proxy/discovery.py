"""The proxy's side of the destination API: one live subscription per destination.

:class:`DestinationClient` opens ``Destination.Get`` on the controller (grpclib,
imported only when a controller is configured, so a proxy without one stays
small). Each :class:`Watch` keeps the endpoint set of one name current from the
stream of updates and tells its listener after every change:

* the first message of a stream is the whole current state and replaces what
  the watch had (so a reconnect resynchronises);
* ``add`` adds or updates endpoints, ``remove`` drops them, ``no_endpoints``
  empties the set and says whether the service exists at all;
* when the stream breaks (controller down or restarting) the watch keeps its
  last endpoints, so traffic continues, and reconnects with jittered
  exponential backoff (100 ms doubling to 10 s).

A :class:`ProfileWatch` follows ``GetProfile`` for the same name the same way: the
service profile (routes, retry budget) as :class:`~lightmesh.core.routes.Profile`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from lightmesh.api.addr import socket_addr
from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.api.gen.destination_grpc import DestinationStub
from lightmesh.api.profile import profile_from_message
from lightmesh.core.addr import SocketAddr
from lightmesh.core.backoff import Backoff
from lightmesh.core.routes import Profile

log = logging.getLogger(__name__)
BACKOFF_MIN = 0.1
BACKOFF_MAX = 10.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    addr: SocketAddr
    weight: int = 10_000
    labels: dict[str, str] = field(default_factory=dict)
    identity: str | None = None
    h2: bool = False
    opaque: bool = False
    inbound_port: int | None = None  # where its proxy takes opaque TCP over mTLS (proxy/tcp.py)


def endpoint(weighted: pb.WeightedAddr, shared: dict[str, str]) -> Endpoint:
    identity = None
    if weighted.HasField("tls_identity"):
        identity = weighted.tls_identity.dns_like_identity.name or None
    hint = weighted.protocol_hint
    return Endpoint(
        socket_addr(weighted.addr),
        weighted.weight or 10_000,
        {**shared, **weighted.metric_labels},
        identity,
        hint.HasField("h2"),
        hint.HasField("opaque"),
        hint.opaque_transport.inbound_port or None,
    )


Listener = Callable[["Watch"], None]


class Watch:
    """The live endpoint set of one destination name."""

    def __init__(self, client: DestinationClient, name: str) -> None:
        self.client = client
        self.name = name
        self.endpoints: dict[SocketAddr, Endpoint] = {}
        self.exists: bool | None = None  # None until the controller first answered
        self.answered = asyncio.Event()
        self.listener: Listener | None = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def addrs(self) -> list[SocketAddr]:
        return list(self.endpoints)

    def close(self) -> None:
        self._task.cancel()

    def apply(self, update: pb.Update, first: bool) -> None:
        kind = update.WhichOneof("update")
        if first:
            self.endpoints = {}
        if kind == "add":
            shared = dict(update.add.metric_labels)
            for weighted in update.add.addrs:
                ep = endpoint(weighted, shared)
                self.endpoints[ep.addr] = ep
            self.exists = True
        elif kind == "remove":
            for tcp in update.remove.addrs:
                self.endpoints.pop(socket_addr(tcp), None)
        elif kind == "no_endpoints":
            self.endpoints = {}
            self.exists = update.no_endpoints.exists
        self.answered.set()
        if self.listener is not None:
            self.listener(self)

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_MIN, BACKOFF_MAX)
        request = pb.GetDestination(scheme="k8s", path=self.name, namespace=self.client.namespace)
        while True:
            try:
                async with self.client.stub.Get.open() as stream:
                    await stream.send_message(request, end=True)
                    first = True
                    async for update in stream:
                        self.apply(update, first)
                        first = False
                        backoff.reset()
                reason = "stream ended"
            except (GRPCError, StreamTerminatedError, OSError, ConnectionError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            wait = backoff.next()
            log.info(
                "destination %s: controller %s: %s; keeping %d endpoints, retrying in %.0f ms",
                self.name,
                self.client.addr,
                reason,
                len(self.endpoints),
                wait * 1000,
            )
            await asyncio.sleep(wait)


ProfileListener = Callable[["ProfileWatch"], None]


class ProfileWatch:
    """The live service profile of one destination name (``GetProfile``).

    :attr:`profile` is ``None`` while the service has no routes and no overrides (the
    router then adds no route layers). A profile the proxy cannot use is logged and the
    last good one kept. A broken stream keeps the profile and reconnects like :class:`Watch`.
    """

    def __init__(self, client: DestinationClient, name: str) -> None:
        self.client = client
        self.name = name
        self.profile: Profile | None = None
        self.answered = asyncio.Event()
        self.listener: ProfileListener | None = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        self._task.cancel()

    def apply(self, message: pb.DestinationProfile) -> None:
        try:
            profile = profile_from_message(message)
        except ValueError as exc:
            log.warning("profile of %s not applied, keeping the last good one: %s", self.name, exc)
        else:
            self.profile = profile if profile.routes or profile.allow_overrides else None
            if self.listener is not None:
                self.listener(self)
        self.answered.set()

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_MIN, BACKOFF_MAX)
        request = pb.GetDestination(scheme="k8s", path=self.name, namespace=self.client.namespace)
        while True:
            try:
                async with self.client.stub.GetProfile.open() as stream:
                    await stream.send_message(request, end=True)
                    async for message in stream:
                        self.apply(message)
                        backoff.reset()
                reason = "stream ended"
            except (GRPCError, StreamTerminatedError, OSError, ConnectionError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.answered.set()  # no profile is an answer too: do not hold requests for it
            wait = backoff.next()
            addr = self.client.addr
            log.info("profile %s: controller %s: %s; retry in %.0f ms", self.name, addr, reason, wait * 1e3)
            await asyncio.sleep(wait)


class DestinationClient:
    def __init__(self, addr: SocketAddr, namespace: str) -> None:
        self.addr = addr
        self.namespace = namespace
        self.channel = Channel(addr.host, addr.port)
        self.stub = DestinationStub(self.channel)

    def watch(self, name: str) -> Watch:
        return Watch(self, name)

    def watch_profile(self, name: str) -> ProfileWatch:
        return ProfileWatch(self, name)

    def close(self) -> None:
        self.channel.close()
