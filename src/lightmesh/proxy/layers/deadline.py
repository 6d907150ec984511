"""Honour gRPC deadlines: end a call at its ``grpc-timeout`` and forward what remains.

The deadline is stored on the request (loop time); the HTTP/2 client rewrites
``grpc-timeout`` to the time left when the request actually goes upstream. If no
response head arrives in time the upstream call is cancelled (its stream reset)
and the client gets a trailers-only DEADLINE_EXCEEDED. If the response is
streaming when the deadline passes, its body ends there with ``grpc-status: 4``
trailers and the upstream stream is reset.
"""

from __future__ import annotations

import asyncio

from lightmesh.core.errors import DeadlineExceeded
from lightmesh.protocol import grpc
from lightmesh.protocol.messages import Body, Headers, error_response
from lightmesh.proxy.service import Layer, Request, Response, Service

_EXPIRED_TRAILERS: Headers = [(b"grpc-status", b"4"), (b"grpc-message", b"deadline exceeded")]


def _timeout(request: Request) -> float | None:
    for name, value in request.headers:
        if name == b"grpc-timeout":
            return grpc.parse_timeout(value)
    return None


def deadline_layer() -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            timeout = _timeout(request)
            if timeout is None:
                return await inner(request)
            loop = asyncio.get_running_loop()
            deadline = request.deadline = loop.time() + timeout
            try:
                async with asyncio.timeout_at(deadline):
                    response = await inner(request)
            except TimeoutError:
                why = DeadlineExceeded(f"deadline of {timeout * 1000:.0f}ms exceeded before a response")
                return error_response(why, request)
            response.body = DeadlineBody(response.body, deadline)
            return response

        return service

    return layer


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
