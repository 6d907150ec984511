"""The public API (``lightmesh.public.Api``) the CLI talks to: version, proxies, tap.

* ``Version``: the controller's version.
* ``ListProxies``: the announced proxies (optionally one namespace), with their
  admin and tap addresses (the CLI scrapes ``/metrics`` from them for stats), and
  the discovery source's services with their endpoint counts.
* ``Tap``: select the proxies of the target resource, fan the observe request out
  to them (:mod:`lightmesh.controller.tapfanout`) and stream the merged events;
  proxies of the target that announce while the tap runs join it.
  FAILED_PRECONDITION when no announced proxy matches (or none has tap on),
  INVALID_ARGUMENT for a bad resource, UNAVAILABLE when no proxy could be tapped.
"""

from __future__ import annotations

import asyncio
import contextlib

from grpclib import GRPCError, Status
from grpclib.server import Stream

from lightmesh import __version__
from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen import tap_pb2
from lightmesh.api.gen.public_grpc import ApiBase
from lightmesh.controller.directory import Directory
from lightmesh.controller.proxies import ProxyList
from lightmesh.controller.tapfanout import TapFailed, fan_out
from lightmesh.core.resources import NAMESPACE, Resource, canonical_type


def resource(message: pb.Resource) -> Resource:
    if not message.type:
        return Resource(NAMESPACE, message.namespace)
    try:
        return Resource(canonical_type(message.type), message.name)
    except ValueError as exc:
        raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None


class PublicApi(ApiBase):
    def __init__(self, proxies: ProxyList, directory: Directory | None = None) -> None:
        self.proxies = proxies
        self.directory = directory

    async def Version(self, stream: Stream[pb.VersionRequest, pb.VersionResponse]) -> None:
        await stream.recv_message()
        await stream.send_message(pb.VersionResponse(version=__version__))

    async def ListProxies(self, stream: Stream[pb.ListProxiesRequest, pb.ListProxiesResponse]) -> None:
        request = await stream.recv_message()
        namespace = request.namespace if request is not None else ""
        services = [
            pb.ServiceEndpoints(namespace=s.name.namespace, name=s.name.name, endpoints=len(s.endpoints))
            for s in (self.directory.services() if self.directory is not None else ())
            if not namespace or s.name.namespace == namespace
        ]
        services.sort(key=lambda s: (s.namespace, s.name))
        await stream.send_message(
            pb.ListProxiesResponse(proxies=self.proxies.all(namespace), services=services)
        )

    async def Tap(self, stream: Stream[pb.TapRequest, tap_pb2.TapEvent]) -> None:
        request = await stream.recv_message()
        if request is None:
            raise GRPCError(Status.INVALID_ARGUMENT, "no TapRequest")
        target = resource(request.target)
        joining = _Joining(self.proxies, target, request.target.namespace)
        found = joining.current()
        if not found:
            what = f"{target.type}/{target.name}" if target.name else f"any {target.type}"
            where = f" in namespace {request.target.namespace}" if request.target.namespace else ""
            raise GRPCError(Status.FAILED_PRECONDITION, f"no announced proxy with tap for {what}{where}")
        stop_watching = self.proxies.watch(joining.changed.set)
        try:
            async with contextlib.aclosing(fan_out(found, request.observe, joining=joining)) as events:
                async for event in events:  # closed at once when the client goes away
                    await stream.send_message(event)
        except TapFailed as exc:
            raise GRPCError(Status.UNAVAILABLE, f"no proxy could be tapped: {exc}") from None
        finally:
            stop_watching()


class _Joining:
    """The proxies with tap that a target selects, now and as proxies come and go."""

    def __init__(self, proxies: ProxyList, target: Resource, namespace: str) -> None:
        self.proxies = proxies
        self.target = target
        self.namespace = namespace
        self.changed = asyncio.Event()

    def current(self) -> list[pb.ProxyInfo]:
        return [p for p in self.proxies.select(self.target, self.namespace) if p.tap_addr]
