"""Tap fan-out: observe several proxies at once and merge their event streams.

:func:`fan_out` opens ``Tap.Observe`` on every given proxy's tap address (grpclib
clients), each with a share of the requested rate (``max_rps`` divided by the
number of proxies, so the total stays near what the user asked for) and the
request's match tree. Events from all proxies go through one bounded queue to the
caller in arrival order. With a ``limit``, the merged stream takes the first
``limit`` requests (by ``request_init``), passes the rest of their events, and ends
once those requests ended. A proxy that cannot be reached or fails is reported
(``on_error``) and the others go on; when every proxy failed, :class:`TapFailed`.

With a :class:`Joining` source, proxies that announce while the tap runs (new replicas,
restarted pods) are tapped too, each with the same share as the first ones: the fan-out
re-reads the source whenever it reports a change and opens a stream to every proxy it
does not tap yet. The merged stream ends when no stream is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from lightmesh.api.gen import public_pb2
from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.api.gen.tap_grpc import TapStub
from lightmesh.core.addr import parse_socket_addr

log = logging.getLogger(__name__)
DEFAULT_MAX_RPS = 100.0
QUEUE_SIZE = 10_000
_DONE = object()


class TapFailed(Exception):
    pass


class Joining(Protocol):
    """Where proxies joining a running tap come from."""

    changed: asyncio.Event  # set when the selection may have changed

    def current(self) -> list[public_pb2.ProxyInfo]: ...


@dataclass
class _Streams:
    open: int = 0  # streams not ended yet
    opened: int = 0  # streams started in all


def _key(info: public_pb2.ProxyInfo) -> tuple[str, str, str]:
    return info.namespace, info.pod, info.tap_addr


def share(request: pb.ObserveRequest, proxies: int) -> pb.ObserveRequest:
    per_proxy = pb.ObserveRequest()
    per_proxy.CopyFrom(request)
    per_proxy.max_rps = (request.max_rps or DEFAULT_MAX_RPS) / max(1, proxies)
    return per_proxy


async def fan_out(
    proxies: list[public_pb2.ProxyInfo],
    request: pb.ObserveRequest,
    on_error: Callable[[str, str], None] | None = None,
    joining: Joining | None = None,
) -> AsyncGenerator[pb.TapEvent, None]:
    queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
    errors: list[str] = []
    per_proxy = share(request, len(proxies))
    tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
    streams = _Streams()

    async def pump(info: public_pb2.ProxyInfo) -> None:
        name = f"{info.namespace}/{info.pod}"
        try:
            addr = parse_socket_addr(info.tap_addr)
            channel = Channel(addr.host, addr.port)
            try:
                async with TapStub(channel).Observe.open() as stream:
                    await stream.send_message(per_proxy, end=True)
                    async for event in stream:
                        await queue.put(event)
            finally:
                channel.close()
        except (GRPCError, StreamTerminatedError, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, GRPCError) else str(exc)
            errors.append(f"{name}: {message}")
            log.info("tap of %s at %s failed: %s", name, info.tap_addr, message)
            if on_error is not None:
                on_error(name, str(message))
        finally:
            tasks.pop(_key(info), None)
            await queue.put(_DONE)

    def start(info: public_pb2.ProxyInfo) -> None:
        if _key(info) not in tasks:
            streams.open += 1
            streams.opened += 1
            tasks[_key(info)] = asyncio.create_task(pump(info))

    async def join(source: Joining) -> None:
        while True:
            await source.changed.wait()
            source.changed.clear()
            for info in source.current():
                start(info)

    for info in proxies:
        start(info)
    watcher = asyncio.create_task(join(joining)) if joining is not None else None
    try:
        async for event in _merge(queue, streams, request.limit):
            yield event
        if len(errors) == streams.opened:
            raise TapFailed("; ".join(errors))
    finally:
        pending = [*tasks.values(), *([watcher] if watcher is not None else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _merge(queue: asyncio.Queue[object], streams: _Streams, limit: int) -> AsyncIterator[pb.TapEvent]:
    taken: set[tuple[str, int, int]] = set()
    seen = 0
    while streams.open:
        item = await queue.get()
        if item is _DONE:
            streams.open -= 1
            continue
        assert isinstance(item, pb.TapEvent)
        if not limit:
            yield item
            continue
        which = item.http.WhichOneof("event")
        if which is None:
            continue
        ident = getattr(item.http, which).id
        key = (item.proxy, ident.base, ident.stream)
        if which == "request_init" and seen < limit:
            seen += 1
            taken.add(key)
        if key in taken:
            yield item
            if which == "response_end":
                taken.discard(key)
                if seen >= limit and not taken:
                    return
