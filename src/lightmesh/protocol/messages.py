"""Protocol-neutral HTTP messages: the values every proxy layer passes along.

A :class:`Request` and a :class:`Response` carry a head (method/target or status,
headers as ``(lower-case name, value)`` byte pairs with hop-by-hop fields already
removed) and a :class:`Body`, a stream of bytes that ends with optional trailers.
HTTP/1 and HTTP/2 codecs produce and consume the same objects, so a layer written
once works for both. The objects are slotted and mutable: layers adjust them in
place on the way through instead of copying.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Protocol

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ProxyError
from lightmesh.protocol import grpc

Headers = list[tuple[bytes, bytes]]


class Body(Protocol):
    """A byte stream with back-pressure, read by one consumer.

    ``length`` is the declared size (``None`` when unknown, e.g. chunked).
    ``read_nowait`` returns buffered bytes, ``b""`` at the end, or ``None`` when
    nothing is buffered yet; ``read`` waits for the next chunk. ``trailers`` is
    set once the end has been read. ``discard`` tells the producer nobody will
    read any more.
    """

    length: int | None

    def read_nowait(self) -> bytes | None: ...

    async def read(self) -> bytes: ...

    @property
    def trailers(self) -> Headers | None: ...

    @property
    def complete(self) -> bool: ...

    def discard(self) -> None: ...


class ConnInfo:
    """Where a request came from: the accepted connection's addresses and mesh facts.

    ``tls`` is true for a mesh TLS connection this proxy terminated; ``peer_id`` is then
    the client's proven identity, and ``id_labels`` its metric labels."""

    __slots__ = ("direction", "id_labels", "local", "orig_dst", "peer", "peer_id", "redirected", "tls")

    def __init__(
        self,
        direction: str,
        peer: tuple[str, int],
        local: tuple[str, int],
        orig_dst: tuple[str, int] | None = None,
        tls: bool = False,
        peer_id: str | None = None,
    ) -> None:
        self.direction = direction
        self.peer = peer
        self.local = local
        self.orig_dst = orig_dst
        self.redirected = orig_dst is not None and orig_dst != local
        self.tls = tls
        self.peer_id = peer_id
        self.id_labels: tuple[tuple[str, str], ...] = (("client_id", peer_id),) if peer_id else ()


class Request:
    """An HTTP request head plus body. ``authority`` is ``host[:port]`` as sent."""

    __slots__ = (
        "authority",
        "body",
        "conn",
        "deadline",
        "dst",
        "dst_labels",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "on_routed",
        "path",
        "route",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        path: bytes,
        headers: Headers,
        body: Body,
        authority: bytes | None = None,
        version: bytes = b"1.1",
        keep_alive: bool = True,
        upgrade: bytes | None = None,
        conn: ConnInfo | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.authority = authority
        self.version = version
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.expect_continue = False
        self.conn = conn
        self.dst: str | None = None  # resolved destination label, set by routing
        self.dst_labels: tuple[tuple[str, str], ...] = ()  # the chosen endpoint's metric labels
        self.deadline: float | None = None  # loop time the caller gives up (grpc-timeout)
        self.route: object | None = None  # the matched route of a profiled service (proxy.layers.route)
        self.on_routed: Callable[[Request, SocketAddr], None] | None = None  # told each endpoint picked


EndCallback = Callable[["Response", "BaseException | None"], None]


class Response:
    """An HTTP response head plus body.

    ``tunnel`` is set by a connector when the response switches protocols (101, or
    2xx to CONNECT): the raw upstream byte stream the server splices to its client.
    ``on_end`` callbacks run once the response has been fully sent (or failed), with
    the error if any, so layers observe end-of-stream (classification, latency).
    """

    __slots__ = ("body", "headers", "keep_alive", "on_end", "reason", "status", "tunnel")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: Body,
        reason: bytes = b"",
        keep_alive: bool = True,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason
        self.keep_alive = keep_alive
        self.on_end: list[EndCallback] | None = None
        self.tunnel: object | None = None

    def add_end_callback(self, callback: EndCallback) -> None:
        if self.on_end is None:
            self.on_end = [callback]
        else:
            self.on_end.append(callback)

    def finish(self, error: BaseException | None) -> None:
        """Run end callbacks once; called by whoever sends the response."""
        callbacks = self.on_end
        if callbacks is not None:
            self.on_end = None
            for callback in callbacks:
                callback(self, error)


class _NoBody:
    """The body of a message that has none (no framing headers at all). Stateless."""

    __slots__ = ()
    length: int | None = 0
    complete = True
    trailers: Headers | None = None

    def read_nowait(self) -> bytes:
        return b""

    async def read(self) -> bytes:
        return b""

    def discard(self) -> None:
        return None


NO_BODY: Final[Body] = _NoBody()


class BytesBody:
    """A body that is fully known up front (proxy-made responses, admin pages)."""

    __slots__ = ("_data", "length", "trailers")
    complete = True

    def __init__(self, data: bytes = b"", trailers: Headers | None = None) -> None:
        self._data: bytes | None = data
        self.length: int | None = len(data)
        self.trailers = trailers

    def read_nowait(self) -> bytes:
        data, self._data = self._data, None
        return data or b""

    async def read(self) -> bytes:
        return self.read_nowait()

    def discard(self) -> None:
        self._data = None


def ended_grpc_status(response: Response) -> int | None:
    """The gRPC status a fully sent response ended with: from its trailers, or from the head
    of a trailers-only response (200 with an empty body); ``None`` when it carried none."""
    trailers = response.body.trailers
    if trailers:
        return grpc.status_of(trailers)
    if response.body.length == 0 and response.status == 200:
        return grpc.status_of(response.headers)
    return None


def error_response(error: ProxyError, request: Request | None = None) -> Response:
    """The response the proxy sends for its own failures, with the reason in a header.

    A gRPC call gets a trailers-only gRPC response (``grpc-status`` in the head), so
    its client sees a status code and message rather than a bare HTTP error.
    """
    reason = _HEADER_UNSAFE.sub(" ", error.reason)[:512]
    if request is not None and request.version == b"2" and grpc.is_grpc(request.headers):
        code = error.grpc_status if error.grpc_status is not None else grpc.status_for_http(error.status)
        fields = grpc.error_headers(code, reason)
        fields.append((b"lightmesh-proxy-error", reason.encode("latin-1", "replace")))
        return Response(200, fields, NO_BODY)
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"lightmesh-proxy-error", reason.encode("latin-1", "replace")),
    ]
    response = Response(error.status, headers, BytesBody(reason.encode("utf-8", "replace") + b"\n"))
    response.keep_alive = error.status not in (400, 431)
    return response


_HEADER_UNSAFE: Final = re.compile(r"[^\x20-\x7e]")
