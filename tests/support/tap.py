"""A grpcio client for ``Tap.Observe`` (an independent peer for the proxy's grpclib server).

:func:`observe` opens the call and returns an :class:`~tests.support.controller.UpdateStream`
whose reads have bounded waits. :func:`until_tapping` sends requests until the first
event arrives, so a test knows the tap is registered before it measures anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from lightmesh.api.gen import tap_pb2 as pb
from tests.support.controller import CALL_DEADLINE, UpdateStream

OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]


def observe(addr: str, request: pb.ObserveRequest) -> tuple[grpc.Channel, UpdateStream]:
    channel = grpc.insecure_channel(addr, options=OPTIONS)
    call = channel.unary_stream(
        "/lightmesh.tap.Tap/Observe",
        request_serializer=pb.ObserveRequest.SerializeToString,
        response_deserializer=pb.TapEvent.FromString,
    )(request, timeout=CALL_DEADLINE)
    return channel, UpdateStream(call)


def until_tapping(stream: UpdateStream, send: Callable[[], Any], attempts: int = 100) -> pb.TapEvent:
    """Call ``send`` until an event arrives (the tap is registered); returns that first event."""
    for _ in range(attempts):
        send()
        try:
            return stream.next(timeout=0.1)
        except AssertionError as exc:
            if "ended" in str(exc):
                raise
    raise AssertionError(f"no tap event after {attempts} requests")


def events_of(stream: UpdateStream, count: int) -> list[pb.TapEvent]:
    return [stream.next() for _ in range(count)]


def kind(event: pb.TapEvent) -> str:
    return str(event.http.WhichOneof("event"))


def request_events(stream: UpdateStream, path: str, limit: int = 1000) -> list[pb.TapEvent]:
    """The req, rsp and end events of the next tapped request for ``path`` (others skipped)."""
    ident = None
    found: list[pb.TapEvent] = []
    for _ in range(limit):
        event = stream.next()
        which = kind(event)
        body = getattr(event.http, which)
        if ident is None and which == "request_init" and body.path == path:
            ident = (body.id.base, body.id.stream)
        if ident is not None and (body.id.base, body.id.stream) == ident:
            found.append(event)
            if which == "response_end":
                return found
    raise AssertionError(f"no complete request for {path} in {limit} events")
