"""One coarse timer for every connection deadline (detect, head read, idle).

Arming a loop timer per request costs an allocation and heap work on the hot
path; instead each connection keeps a plain ``deadline`` number (loop time) and
one :class:`Sweeper` wakes every ``interval`` seconds to expire the ones that have
passed. Deadlines are therefore honoured to within ``interval``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Expirable(Protocol):
    deadline: float | None

    def expire(self) -> None: ...


class Sweeper:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.5) -> None:
        self._loop = loop
        self._interval = interval
        self._members: set[Expirable] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, member: Expirable) -> None:
        self._members.add(member)
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._sweep)

    def discard(self, member: Expirable) -> None:
        self._members.discard(member)

    def _sweep(self) -> None:
        self._handle = None
        now = self._loop.time()
        for member in [m for m in self._members if m.deadline is not None and m.deadline <= now]:
            member.expire()
        if self._members:
            self._handle = self._loop.call_later(self._interval, self._sweep)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
