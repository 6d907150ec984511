"""Bodies for retries: buffer a small request body for replay, peek a gRPC response's status.

:func:`buffer_request` reads a request body of at most ``MAX_REPLAY`` (64 KiB, Linkerd's
limit) into memory, so each attempt can send the same bytes (:func:`replay`). A larger
body (declared or found while reading) is not buffered further: the bytes already read
are put back in front of the rest (:class:`PrefixBody`) and the request goes once.

:func:`peek_status` finds a gRPC failure that only the trailers carry: on a retryable
route it reads a gRPC response to its end (at most ``MAX_REPLAY`` bytes), so the
trailers' ``grpc-status`` decides, and the body becomes those bytes again; a longer
response is passed on with its status unknown. So retryable routes should be unary calls:
a server stream is held until it ends or passes 64 KiB.
"""

from __future__ import annotations

from typing import Final

from lightmesh.protocol import grpc
from lightmesh.protocol.messages import NO_BODY, Body, BytesBody, Headers, Response

MAX_REPLAY: Final = 64 * 1024


class PrefixBody:
    """Bytes already read from ``inner``, then the rest of ``inner``."""

    __slots__ = ("_inner", "_prefix", "length")

    def __init__(self, prefix: bytes, inner: Body) -> None:
        self._prefix = prefix
        self._inner = inner
        self.length = inner.length

    @property
    def complete(self) -> bool:
        return not self._prefix and self._inner.complete

    @property
    def trailers(self) -> Headers | None:
        return self._inner.trailers

    def read_nowait(self) -> bytes | None:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        return self._inner.read_nowait()

    async def read(self) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        return await self._inner.read()

    def discard(self) -> None:
        self._prefix = b""
        self._inner.discard()


class Replay:
    """A request body kept for every attempt."""

    __slots__ = ("data", "empty", "trailers")

    def __init__(self, data: bytes, trailers: Headers | None, empty: bool) -> None:
        self.data = data
        self.trailers = trailers
        self.empty = empty  # the request had no body at all

    def body(self) -> Body:
        return NO_BODY if self.empty else BytesBody(self.data, self.trailers)


async def buffer_request(body: Body) -> Replay | Body:
    """A :class:`Replay` of a body up to ``MAX_REPLAY`` bytes, else the body to send once."""
    if body is NO_BODY:
        return Replay(b"", None, True)
    if body.length is not None and body.length > MAX_REPLAY:
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        data = body.read_nowait()
        if data is None:
            data = await body.read()
        if not data:
            return Replay(b"".join(chunks), body.trailers, False)
        chunks.append(data)
        size += len(data)
        if size > MAX_REPLAY:
            return PrefixBody(b"".join(chunks), body)


async def peek_status(response: Response) -> int | None:
    """The response's gRPC status when it is known by the end of at most ``MAX_REPLAY`` bytes.

    A trailers-only response has it in its head. Otherwise a gRPC response is read until
    its end (its trailers) or until more than ``MAX_REPLAY`` bytes came, and the body is
    replaced by what was read (then the rest): a unary call is seen whole, a large or
    long stream is passed on with its status unknown (``None``) and is not retried.
    """
    status = grpc.status_of(response.headers)
    if status is not None or not grpc.is_grpc(response.headers):
        return status
    body = response.body
    chunks: list[bytes] = []
    size = 0
    while True:
        data = body.read_nowait()
        if data is None:
            data = await body.read()
        if not data:
            trailers = body.trailers
            response.body = BytesBody(b"".join(chunks), trailers)
            return grpc.status_of(trailers)
        chunks.append(data)
        size += len(data)
        if size > MAX_REPLAY:
            response.body = PrefixBody(b"".join(chunks), body)
            return None
