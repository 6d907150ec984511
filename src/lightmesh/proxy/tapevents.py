"""Tap events: what a tapped request reports to its observers, as ``tap.proto`` messages.

Loaded (with the protobuf runtime) by the tap layer only once someone taps the proxy.
:func:`tapped` describes the request once (:class:`~lightmesh.proxy.tapmatch.Facts`),
offers it to every observer (match tree, then the observer's token bucket, then its
request limit), and the observers that took it get three events: ``request_init`` now,
``response_init`` when the response head is ready (with the latency), and
``response_end`` when the response has been sent (bytes, ``grpc-status`` or the reset
code or error, duration since the response head). Headers travel with the events;
sensitive ones (``authorization``, ``cookie``, ``set-cookie``, ``proxy-authorization``
and the configured extras) carry ``[redacted]``.
"""

from __future__ import annotations

import time

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import StreamReset
from lightmesh.protocol import grpc
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Response
from lightmesh.proxy.service import Request, Service
from lightmesh.proxy.taphub import REDACTED, Observer, TapHub
from lightmesh.proxy.tapmatch import Facts

Event = pb.TapEvent
_Http = pb.TapEvent.Http
KINDS = {"inbound": pb.TapEvent.INBOUND, "outbound": pb.TapEvent.OUTBOUND}


def headers(hub: TapHub, fields: Headers | None) -> list[pb.Header]:
    redact = hub.redact
    return [
        pb.Header(name=name.decode("latin-1"), value=REDACTED if name in redact else value)
        for name, value in fields or ()
    ]


async def tapped(hub: TapHub, direction: str, inner: Service, request: Request) -> Response:
    facts = hub.facts(request, direction)
    now = time.monotonic()
    chosen = [o for o in hub.observers if o.offer(facts, now)]
    if not chosen:
        return await inner(request)
    hub.stream += 1
    tap = _Tap(
        hub, chosen, KINDS[direction], facts, pb.TapEvent.Http.StreamId(base=hub.base, stream=hub.stream)
    )
    init = _Http(
        request_init=_Http.RequestInit(
            id=tap.id,
            method=facts.method,
            scheme=facts.scheme,
            authority=facts.authority,
            path=facts.path,
            headers=headers(hub, request.headers),
        )
    )
    if direction == "outbound":  # reported once routed: with the endpoint and whether it is mTLS
        tap.init = init
        request.on_routed = tap.dispatched
    else:
        tap.emit(init)
    try:
        response = await inner(request)
    except BaseException as exc:
        tap.routed(request)
        tap.end(0, 0, None, exc, None)
        raise
    tap.routed(request)
    tap.response_head(response)
    if response.body is not NO_BODY and response.tunnel is None:
        response.body = tap.counter = _CountingBody(response.body)
    response.add_end_callback(tap.on_end)
    return response


class _Tap:
    """One tapped request: the observers that took it and the facts every event repeats."""

    __slots__ = ("counter", "facts", "hub", "id", "init", "kind", "observers", "response_at", "start")

    def __init__(
        self, hub: TapHub, observers: list[Observer], kind: int, facts: Facts, ident: _Http.StreamId
    ) -> None:
        self.hub = hub
        self.observers = observers
        self.kind = kind
        self.facts = facts
        self.id = ident
        self.start = time.perf_counter()
        self.response_at = self.start
        self.counter: _CountingBody | None = None
        self.init: _Http | None = None  # an outbound request_init held until routed

    def emit(self, http: _Http) -> None:
        f = self.facts
        event = Event(
            source=pb.TcpAddress(ip=f.src_ip, port=f.src_port),
            source_meta=f.src_meta,
            destination=pb.TcpAddress(ip=f.dst_ip, port=f.dst_port),
            destination_meta=f.dst_meta,
            proxy_direction=self.kind,  # type: ignore[arg-type]
            http=http,
            tls=f.src_meta.get("tls") == "true",
            proxy=self.hub.proxy_name,
        )
        for observer in self.observers:
            observer.push(event)

    def dispatched(self, request: Request, endpoint: SocketAddr) -> None:
        """The outbound request went to ``endpoint`` (again, when retried)."""
        self.facts.dst_ip, self.facts.dst_port = endpoint.host, endpoint.port
        self.routed(request)

    def routed(self, request: Request) -> None:
        """Label the events with the endpoint's metadata; send a held request_init."""
        for key, value in request.dst_labels:
            self.facts.dst_meta[key.removeprefix("dst_")] = value
        if request.dst_labels and request.dst_labels[-1][0] == "server_id":  # outbound over mTLS
            self.facts.src_meta["tls"] = "true"
        init, self.init = self.init, None
        if init is not None:
            self.emit(init)

    def response_head(self, response: Response) -> None:
        self.response_at = time.perf_counter()
        self.emit(
            _Http(
                response_init=_Http.ResponseInit(
                    id=self.id,
                    since_request_init_us=_us(self.response_at - self.start),
                    http_status=response.status,
                    headers=headers(self.hub, response.headers),
                )
            )
        )

    def on_end(self, response: Response, error: BaseException | None) -> None:
        trailers = response.body.trailers
        size = self.counter.count if self.counter is not None else 0
        self.end(size, response.status, trailers or response.headers, error, trailers)

    def end(
        self,
        size: int,
        status: int,
        status_fields: Headers | None,
        error: BaseException | None,
        trailers: Headers | None,
    ) -> None:
        now = time.perf_counter()
        eos = _eos(status_fields, error)
        self.emit(
            _Http(
                response_end=_Http.ResponseEnd(
                    id=self.id,
                    since_request_init_us=_us(now - self.start),
                    since_response_init_us=_us(now - self.response_at) if status else 0,
                    response_bytes=size,
                    eos=eos,
                    trailers=headers(self.hub, trailers),
                    http_status=status,
                )
            )
        )
        for observer in self.observers:
            observer.finished_one()


def _eos(fields: Headers | None, error: BaseException | None) -> _Http.Eos | None:
    if isinstance(error, StreamReset):
        return _Http.Eos(reset_error_code=error.code)
    if error is not None:
        return _Http.Eos(error=str(error) or type(error).__name__)
    status = grpc.status_of(fields)
    return None if status is None else _Http.Eos(grpc_status_code=status)


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


class _CountingBody:
    """The response body as sent, counting its bytes for ``response_end``."""

    __slots__ = ("count", "inner", "length")

    def __init__(self, inner: Body) -> None:
        self.inner = inner
        self.length = inner.length
        self.count = 0

    @property
    def complete(self) -> bool:
        return self.inner.complete

    @property
    def trailers(self) -> Headers | None:
        return self.inner.trailers

    def read_nowait(self) -> bytes | None:
        data = self.inner.read_nowait()
        if data:
            self.count += len(data)
        return data

    async def read(self) -> bytes:
        data = await self.inner.read()
        self.count += len(data)
        return data

    def discard(self) -> None:
        self.inner.discard()
