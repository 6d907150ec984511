"""The CLI's client for the controller's public API (grpclib), with errors a person can act on.

Every call has a deadline; a controller that does not answer becomes
:class:`ApiUnavailable` naming the address and where it came from, with a hint
(start ``lightmesh up``, or pass ``--api-addr``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen import tap_pb2
from lightmesh.api.gen.public_grpc import ApiStub
from lightmesh.cli.target import Target
from lightmesh.core.addr import parse_socket_addr

CALL_TIMEOUT = 10.0


class ApiUnavailable(Exception):
    pass


class ApiError(Exception):
    """The controller answered with an error (bad request, nothing to tap...)."""


class ApiClient:
    def __init__(self, target: Target) -> None:
        self.target = target
        addr = parse_socket_addr(target.addr)
        self.channel = Channel(addr.host, addr.port)
        self.stub = ApiStub(self.channel)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.channel.close()

    def unavailable(self, exc: BaseException) -> ApiUnavailable:
        return ApiUnavailable(
            f"cannot reach the lightmesh control plane at {self.target.addr} "
            f"(from {self.target.source}): {exc or type(exc).__name__}\n"
            "hint: start one with `lightmesh up`, or point to it with --api-addr HOST:PORT"
        )

    async def version(self) -> str:
        try:
            reply = await self.stub.Version(pb.VersionRequest(), timeout=CALL_TIMEOUT)
        except (OSError, TimeoutError, StreamTerminatedError) as exc:
            raise self.unavailable(exc) from None
        except GRPCError as exc:
            raise ApiError(exc.message or exc.status.name) from None
        return str(reply.version)

    async def list_proxies(self, namespace: str = "") -> pb.ListProxiesResponse:
        """The announced proxies and the discovery source's services (``namespace``: "" for all)."""
        try:
            reply = await self.stub.ListProxies(
                pb.ListProxiesRequest(namespace=namespace), timeout=CALL_TIMEOUT
            )
        except (OSError, TimeoutError, StreamTerminatedError) as exc:
            raise self.unavailable(exc) from None
        except GRPCError as exc:
            raise ApiError(exc.message or exc.status.name) from None
        return reply

    async def tap(self, request: pb.TapRequest) -> AsyncIterator[tap_pb2.TapEvent]:
        try:
            async with self.stub.Tap.open() as stream:
                await stream.send_message(request, end=True)
                async for event in stream:
                    yield event
        except (OSError, TimeoutError, StreamTerminatedError) as exc:
            raise self.unavailable(exc) from None
        except GRPCError as exc:
            raise ApiError(exc.message or exc.status.name) from None
