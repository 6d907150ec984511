"""Body streams with back-pressure between a producing connection and one consumer.

A :class:`StreamBody` is fed by a connection's parser callbacks and read by the
task sending it on. When more than ``HIGH_WATER`` bytes are buffered it asks its
:class:`Flow` (the producing connection) to pause reading from the socket, and
resumes it once the consumer has drained the buffer, so a 1 GiB transfer moves
through a bounded buffer. Reads return everything buffered at once, which lets the
sender write a head and a small body in one system call.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from lightmesh.protocol.messages import BytesBody, Headers

__all__ = ["HIGH_WATER", "BytesBody", "Flow", "StreamBody"]

HIGH_WATER: Final = 64 * 1024


class Flow(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def body_discarded(self) -> None: ...


class StreamBody:
    __slots__ = (
        "_chunks",
        "_discarded",
        "_eof",
        "_error",
        "_flow",
        "_paused",
        "_size",
        "_trailers",
        "_waiter",
        "length",
    )

    def __init__(self, flow: Flow | None, length: int | None = None) -> None:
        self.length = length
        self._flow = flow
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._error: BaseException | None = None
        self._trailers: Headers | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._discarded = False

    # producer side
    def feed(self, data: bytes) -> None:
        if self._discarded:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._waiter is not None:
            self._wake()
        if self._size > HIGH_WATER and not self._paused and self._flow is not None:
            self._paused = True
            self._flow.pause_reading()

    def feed_eof(self, trailers: Headers | None = None) -> None:
        self._eof = True
        self._trailers = trailers
        if self._waiter is not None:
            self._wake()

    def set_error(self, error: BaseException) -> None:
        if not self._eof:
            self._error = error
            self._eof = True
            if self._waiter is not None:
                self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # consumer side
    @property
    def complete(self) -> bool:
        return self._eof and self._error is None

    @property
    def trailers(self) -> Headers | None:
        return self._trailers

    def read_nowait(self) -> bytes | None:
        chunks = self._chunks
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self._size = 0
            if self._paused:
                self._paused = False
                if self._flow is not None:
                    self._flow.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b"" if self._eof else None

    async def read(self) -> bytes:
        while True:
            data = self.read_nowait()
            if data is not None:
                return data
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def discard(self) -> None:
        if self._discarded:
            return
        self._discarded = True
        self._chunks.clear()
        self._size = 0
        if self._flow is not None:
            if self._paused:
                self._paused = False
                self._flow.resume_reading()
            if not self._eof:
                self._flow.body_discarded()
