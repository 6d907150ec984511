"""The tap layer: report matching requests to whoever observes this proxy.

A :class:`TapHub` holds the active :class:`Observer` list (one per open
``Tap.Observe`` call). The layer's service is a plain function: while nobody taps
it checks ``hub.observers`` and returns the inner service's awaitable, so an
untapped proxy pays one attribute test and allocates nothing. When someone taps,
each request is described once (:class:`~lightmesh.proxy.tapmatch.Facts`), offered
to every observer (match tree, then the observer's token bucket, then its request
limit), and the observers that took it get three events: ``request_init`` now,
``response_init`` when the response head is ready (with the latency), and
``response_end`` when the response has been sent (bytes, ``grpc-status`` or the
reset code or error, duration since the response head). Headers travel with the
events; sensitive ones (``authorization``, ``cookie``, ``set-cookie``,
``proxy-authorization`` and the configured extras) carry ``[redacted]``.

Events go into each observer's bounded queue; a full queue drops the event and
counts it rather than slow the request down.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Iterable

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.core.addr import SocketAddr, is_ip, split_host_port
from lightmesh.core.errors import StreamReset
from lightmesh.core.names import normalize
from lightmesh.core.ratelimit import TokenBucket
from lightmesh.protocol.messages import NO_BODY, Body, Headers, Response
from lightmesh.protocol.prometheus import Family
from lightmesh.proxy.service import Layer, Request, Service
from lightmesh.proxy.tapmatch import Facts, Predicate

ALWAYS_REDACTED = frozenset({b"authorization", b"cookie", b"set-cookie", b"proxy-authorization"})
REDACTED = b"[redacted]"
QUEUE_SIZE = 10_000
DEFAULT_MAX_RPS = 100.0
Event = pb.TapEvent
_INBOUND, _OUTBOUND = pb.TapEvent.INBOUND, pb.TapEvent.OUTBOUND
_Http = pb.TapEvent.Http


class Observer:
    """One open tap: what it matches, how many requests it may take, where events go."""

    __slots__ = ("bucket", "dropped", "limit", "pending", "predicate", "queue", "seen", "settled")

    def __init__(self, predicate: Predicate, max_rps: float, limit: int, now: float) -> None:
        self.predicate = predicate
        self.bucket = TokenBucket(max_rps or DEFAULT_MAX_RPS, now=now)
        self.limit = limit
        self.seen = 0
        self.pending = 0  # requests taken whose response has not ended
        self.dropped = 0
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)  # None: wake up, settled
        self.settled = asyncio.Event()  # set when the limit was reached and nothing is pending

    @property
    def full(self) -> bool:
        return bool(self.limit) and self.seen >= self.limit

    def offer(self, facts: Facts, now: float) -> bool:
        if self.full or not self.predicate(facts) or not self.bucket.admit(now):
            return False
        self.seen += 1
        self.pending += 1
        return True

    def push(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def finished_one(self) -> None:
        self.pending -= 1
        if self.full and self.pending == 0:
            self.settled.set()
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:  # the reader drains the queue, then sees ``settled``
                pass


class TapHub:
    """The proxy's taps and what it knows about itself (labels, redaction, ids)."""

    def __init__(
        self,
        own_labels: dict[str, str],
        redact: Iterable[str] = (),
        inbound_dst: SocketAddr | None = None,
    ) -> None:
        self.observers: list[Observer] = []  # empty: nobody taps, the layer does nothing
        self.own = dict(own_labels)
        self.namespace = self.own.get("namespace", "default")
        self.proxy_name = f"{self.namespace}/{self.own.get('pod', '')}"
        self.redact = ALWAYS_REDACTED | {name.strip().lower().encode() for name in redact if name.strip()}
        self.inbound_dst = inbound_dst
        self.base = random.getrandbits(32)
        self.stream = 0
        self.dropped = 0  # events dropped by observers that have ended

    def add(self, observer: Observer) -> None:
        self.observers = [*self.observers, observer]  # copied: requests may be iterating the old list

    def remove(self, observer: Observer) -> None:
        self.observers = [o for o in self.observers if o is not observer]
        self.dropped += observer.dropped

    def families(self) -> list[Family]:
        """``tap_observers`` (open taps) and ``tap_events_dropped_total``, at scrape time."""
        observers = Family("tap_observers", "gauge", "Tap.Observe calls open on this proxy")
        observers.add([], len(self.observers))
        dropped = Family("tap_events_dropped_total", "counter", "Tap events dropped for slow observers")
        dropped.add([], self.dropped + sum(o.dropped for o in self.observers))
        return [observers, dropped]

    def headers(self, fields: Headers | None) -> list[pb.Header]:
        redact = self.redact
        return [
            pb.Header(name=name.decode("latin-1"), value=REDACTED if name in redact else value)
            for name, value in fields or ()
        ]

    def facts(self, request: Request, direction: str) -> Facts:
        conn = request.conn
        src = conn.peer if conn is not None else ("", 0)
        authority = request.authority.decode("latin-1") if request.authority else ""
        path = request.path.decode("latin-1")
        facts = Facts(
            src[0],
            src[1],
            "",
            0,
            request.method.decode("latin-1"),
            "https" if path.startswith("https://") else "http",
            authority,
            path,
        )
        if conn is not None and conn.tls:
            facts.src_meta["tls"] = "true"
        if direction == "inbound":
            dst = self.inbound_dst or (
                SocketAddr(*conn.orig_dst) if conn is not None and conn.orig_dst else None
            )
            facts.dst_meta.update(self.own)
        else:
            dst = (
                SocketAddr(*conn.orig_dst) if conn is not None and conn.redirected and conn.orig_dst else None
            )
            facts.src_meta.update(self.own)
            facts.dst_meta.update(self._authority_meta(authority))
            if dst is None and authority:
                dst = _authority_addr(authority)
        if dst is not None:
            facts.dst_ip, facts.dst_port = dst.host, dst.port
        return facts

    def _authority_meta(self, authority: str) -> dict[str, str]:
        meta = {"authority": authority} if authority else {}
        try:
            name = normalize(authority if ":" in authority else f"{authority}:80", self.namespace)
        except ValueError:
            name = None
        if name is not None:
            meta["service"], meta["namespace"] = name.name, name.namespace
        return meta


def _authority_addr(authority: str) -> SocketAddr | None:
    try:
        host, port = split_host_port(authority, 80)
    except ValueError:
        return None
    return SocketAddr(host if is_ip(host) else "", port)


def tap_layer(hub: TapHub, direction: str) -> Layer:
    kind = _INBOUND if direction == "inbound" else _OUTBOUND

    def layer(inner: Service) -> Service:
        def service(request: Request) -> Awaitable[Response]:
            if not hub.observers:
                return inner(request)
            return _tapped(hub, kind, direction, inner, request)

        return service

    return layer


async def _tapped(hub: TapHub, kind: int, direction: str, inner: Service, request: Request) -> Response:
    facts = hub.facts(request, direction)
    now = time.monotonic()
    chosen = [o for o in hub.observers if o.offer(facts, now)]
    if not chosen:
        return await inner(request)
    hub.stream += 1
    tap = _Tap(hub, chosen, kind, facts, pb.TapEvent.Http.StreamId(base=hub.base, stream=hub.stream))
    tap.emit(
        _Http(
            request_init=_Http.RequestInit(
                id=tap.id,
                method=facts.method,
                scheme=facts.scheme,
                authority=facts.authority,
                path=facts.path,
                headers=hub.headers(request.headers),
            )
        )
    )
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

    __slots__ = ("counter", "facts", "hub", "id", "kind", "observers", "response_at", "start")

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

    def routed(self, request: Request) -> None:
        for key, value in request.dst_labels:
            self.facts.dst_meta[key.removeprefix("dst_")] = value

    def response_head(self, response: Response) -> None:
        self.response_at = time.perf_counter()
        self.emit(
            _Http(
                response_init=_Http.ResponseInit(
                    id=self.id,
                    since_request_init_us=_us(self.response_at - self.start),
                    http_status=response.status,
                    headers=self.hub.headers(response.headers),
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
                    trailers=self.hub.headers(trailers),
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
    for name, value in fields or ():
        if name == b"grpc-status":
            return _Http.Eos(grpc_status_code=int(value) if value.isdigit() else 2)
    return None


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
