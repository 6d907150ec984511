"""Honour deadlines: end a call at its ``grpc-timeout`` or ``lightmesh-deadline``, forward what remains.

Two headers carry a caller's deadline as the time it still waits: gRPC's
``grpc-timeout`` (HTTP/2) and ``lightmesh-deadline`` (remaining milliseconds, any HTTP
version; see :mod:`lightmesh.core.deadlines` for why relative). The earlier of the two is
stored on the request (loop time). When the request goes to the next hop,
:func:`forward_deadline` rewrites ``lightmesh-deadline`` to the time left then (the
HTTP/2 client does the same for ``grpc-timeout``), and a deadline already passed is not
forwarded at all: the caller gets 504 (gRPC: DEADLINE_EXCEEDED). If no response head
arrives in time the upstream call is cancelled (its stream reset, or its connection
closed) and the client gets the same. If a gRPC response is streaming when the deadline
passes, its body ends there with ``grpc-status: 4`` trailers and the upstream stream is
reset.

On the inbound side the same header scan removes the headers the application must never
see (``strip``): the per-request override headers (``lightmesh-retry-limit``,
``lightmesh-timeout``), which are for the caller's outbound proxy only, whether the service
has a profile or not, and a client-sent ``lightmesh-client-id`` (see
:mod:`lightmesh.proxy.inbound`). One scan serves both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final

from lightmesh.core.deadlines import encode_deadline, parse_deadline
from lightmesh.core.errors import DeadlineExceeded
from lightmesh.protocol import grpc
from lightmesh.protocol.messages import Body, Headers, error_response
from lightmesh.proxy.service import Layer, Request, Response, Service

DEADLINE: Final = b"lightmesh-deadline"
_EXPIRED_TRAILERS: Final[Headers] = [(b"grpc-status", b"4"), (b"grpc-message", b"deadline exceeded")]


def _timeout(request: Request, strip: frozenset[bytes]) -> tuple[float | None, bool]:
    """(seconds the caller waits, whether grpc-timeout set it) from the request's headers.

    Fields named in ``strip`` are removed on the way.
    """
    timeout: float | None = None
    is_grpc = False
    found = False
    for name, value in request.headers:
        if name == b"grpc-timeout":
            t = grpc.parse_timeout(value)
            if t is not None and (timeout is None or t <= timeout):
                timeout, is_grpc = t, True
        elif name == DEADLINE:
            t = parse_deadline(value)
            if t is not None and (timeout is None or t < timeout):
                timeout, is_grpc = t, False
        elif name in strip:
            found = True
    if found:
        request.headers = [field for field in request.headers if field[0] not in strip]
    return timeout, is_grpc


def forward_deadline(request: Request, now: float) -> None:
    """Rewrite ``lightmesh-deadline`` to the time left; ``DeadlineExceeded`` when none is."""
    assert request.deadline is not None
    left = request.deadline - now
    if left <= 0:
        raise DeadlineExceeded("deadline expired before the request could be forwarded")
    headers = request.headers
    for i, (name, _) in enumerate(headers):
        if name == DEADLINE:
            headers[i] = (DEADLINE, encode_deadline(left))


def deadline_layer(strip: frozenset[bytes] = frozenset()) -> Layer:
    """The deadline layer; it also removes the fields named in ``strip`` (inbound)."""
    watched = strip | {b"grpc-timeout", DEADLINE}

    def layer(inner: Service) -> Service:
        def service(request: Request) -> Awaitable[Response]:
            for name, _ in request.headers:
                if name in watched:
                    break
            else:
                return inner(request)  # the common request: one scan, no coroutine of its own
            timeout, from_grpc = _timeout(request, strip)
            if timeout is None:
                return inner(request)
            return _bounded(inner, request, timeout, from_grpc)

        return service

    return layer


async def _bounded(inner: Service, request: Request, timeout: float, from_grpc: bool) -> Response:
    if timeout <= 0:
        return error_response(DeadlineExceeded("deadline already expired: not forwarded"), request)
    loop = asyncio.get_running_loop()
    deadline = request.deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            response = await inner(request)
    except TimeoutError:
        why = DeadlineExceeded(f"deadline of {timeout * 1000:.0f}ms exceeded before a response")
        return error_response(why, request)
    if from_grpc:
        response.body = DeadlineBody(response.body, deadline)
    return response


class DeadlineBody:
    """A response body that ends with DEADLINE_EXCEEDED trailers when the deadline passes."""

    __slots__ = ("_deadline", "_expired", "_inner", "length")

    def __init__(self, inner: Body, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline
        self._expired = False
        self.length = inner.length

    @property
    def complete(self) -> bool:
        return self._expired or self._inner.complete

    @property
    def trailers(self) -> Headers | None:
        return _EXPIRED_TRAILERS if self._expired else self._inner.trailers

    def _expire(self) -> bytes:
        self._expired = True
        self._inner.discard()
        return b""

    def read_nowait(self) -> bytes | None:
        if self._expired:
            return b""
        data = self._inner.read_nowait()
        if data is None and asyncio.get_running_loop().time() >= self._deadline:
            return self._expire()
        return data

    async def read(self) -> bytes:
        if self._expired:
            return b""
        try:
            async with asyncio.timeout_at(self._deadline):
                return await self._inner.read()
        except TimeoutError:
            return self._expire()

    def discard(self) -> None:
        self._inner.discard()
