"""Runs a connection's serving coroutine as an :class:`asyncio.Task` would, for less.

An HTTP/1 connection serves its requests one after another, with one coroutine that
lives as long as the connection. Run by a Task, it would idle on a new future between
requests, and every request would pay for that future, its wake-up and the Task's
step. Run by a :class:`Driver`, it idles with ``await driver.parked()``, and the next
request resumes it with :meth:`Driver.wake` (one ``call_soon``, no future).

The driver keeps what asyncio code inside the coroutine relies on: while a step runs,
the driver is the loop's current task (``asyncio.current_task()``), so
``asyncio.timeout`` works, and it has the cancellation protocol ``asyncio.timeout``
uses: :meth:`cancel` cancels the awaited future (or throws
:class:`asyncio.CancelledError` at the next step), counted by :meth:`cancelling` and
taken back by :meth:`uncancel`. A bare ``yield`` (``asyncio.sleep(0)``) steps again on
the next loop iteration. When the coroutine ends, ``done`` is called with the exception
that ended it, or ``None``.

A :class:`Handoff` carries one result from a protocol callback to the coroutine awaiting
it (the HTTP/1 client's response head): a driven coroutine waits parked, so a request
served this way makes no future at all; a Task awaiting one gets a future.
"""

from __future__ import annotations

import asyncio
from asyncio import CancelledError
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Final, Generic, TypeVar

# a Driver stands in for the Task these take (asyncio.current_task() returns it)
_enter_task: Final[Callable[[asyncio.AbstractEventLoop, Any], None]] = asyncio.tasks._enter_task
_leave_task: Final[Callable[[asyncio.AbstractEventLoop, Any], None]] = asyncio.tasks._leave_task

Done = Callable[[BaseException | None], None]
T = TypeVar("T")


class _Parked:
    """What a parked coroutine yields to its driver: wait for :meth:`Driver.wake`."""

    def __await__(self) -> Generator[Any, None, None]:
        yield self


PARKED: Final = _Parked()


class _Stepping:
    """Which driver is stepping now, if any: ``asyncio.current_task()`` is Python on 3.11."""

    __slots__ = ("driver",)

    def __init__(self) -> None:
        self.driver: Driver | None = None


_NOW: Final = _Stepping()


class Driver:
    """Steps one coroutine; ``done(error)`` hears how it ended."""

    __slots__ = (
        "_cancels",
        "_coro",
        "_done",
        "_loop",
        "_must_cancel",
        "_next_step",
        "_parked",
        "_waiting",
        "_wakeup",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, done: Done) -> None:
        self._loop = loop
        self._done = done
        self._coro: Coroutine[Any, Any, None] | None = None
        self._waiting: asyncio.Future[Any] | None = None
        self._parked = False
        self._must_cancel = False
        self._cancels = 0
        self._wakeup = self._resume  # bound methods, made once
        self._next_step = self._step

    @property
    def running(self) -> bool:
        return self._coro is not None

    @property
    def is_parked(self) -> bool:
        return self._parked

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` from the next loop iteration on."""
        assert self._coro is None, "a driver runs one coroutine"
        self._coro = coro
        self._loop.call_soon(self._next_step)

    @staticmethod
    def parked() -> _Parked:
        """``await driver.parked()`` idles the coroutine until :meth:`wake`."""
        return PARKED

    def wake(self) -> None:
        """Resume the parked coroutine on the next loop iteration."""
        if self._parked:
            self._parked = False
            self._loop.call_soon(self._next_step)

    # the part of asyncio.Task that asyncio.timeout uses
    def cancel(self, msg: Any = None) -> bool:
        if self._coro is None:
            return False
        self._cancels += 1
        waiting = self._waiting
        if waiting is not None and waiting.cancel():
            return True
        self._must_cancel = True  # thrown in at the next step
        if self._parked:
            self._parked = False
            self._loop.call_soon(self._next_step)
        return True

    def cancelling(self) -> int:
        return self._cancels

    def uncancel(self) -> int:
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def done(self) -> bool:
        return self._coro is None

    def _resume(self, _: asyncio.Future[Any]) -> None:
        self._step()

    def _step(self) -> None:
        coro = self._coro
        if coro is None or self._parked:
            return
        self._waiting = None
        loop = self._loop
        _enter_task(loop, self)
        _NOW.driver = self
        try:
            if self._must_cancel:
                self._must_cancel = False
                awaited = coro.throw(CancelledError())
            else:
                awaited = coro.send(None)
        except BaseException as exc:  # StopIteration: it returned; else what ended it
            _NOW.driver = None
            _leave_task(loop, self)
            self._coro = None
            self._done(None if isinstance(exc, StopIteration) else exc)
            return
        _NOW.driver = None
        _leave_task(loop, self)
        if awaited is PARKED and not self._must_cancel:
            self._parked = True
        elif awaited is None or awaited is PARKED:  # a bare yield (or a cancel): step again next
            loop.call_soon(self._next_step)
        else:
            awaited._asyncio_future_blocking = False
            awaited.add_done_callback(self._wakeup)
            self._waiting = awaited
            if self._must_cancel and awaited.cancel():
                self._must_cancel = False


class Handoff(Generic[T]):
    """A result that a protocol callback hands to the one coroutine awaiting it, once.

    A coroutine run by a :class:`Driver` waits parked (no future); any other (a Task) waits
    on a future made for it. :meth:`set_result` and :meth:`set_exception` after the first
    are ignored, as is either when nobody waits any more (a cancelled waiter: the exception
    thrown into it cleared its place). Much cheaper to make than a future: one per request.
    """

    __slots__ = ("_driver", "_error", "_future", "_set", "_value")

    def __init__(self) -> None:
        self._set = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._driver: Driver | None = None
        self._future: asyncio.Future[None] | None = None

    @property
    def pending(self) -> bool:
        """No result or exception yet."""
        return not self._set

    def set_result(self, value: T) -> None:
        if not self._set:
            self._set = True
            self._value = value
            self._wake()

    def set_exception(self, error: BaseException) -> None:
        if not self._set:
            self._set = True
            self._error = error
            self._wake()

    def _wake(self) -> None:
        driver, future = self._driver, self._future
        if driver is not None:
            self._driver = None
            driver.wake()
        elif future is not None:
            self._future = None
            if not future.done():
                future.set_result(None)

    def __await__(self) -> Generator[Any, None, T]:
        if not self._set:
            driver = _NOW.driver
            if driver is not None:
                self._driver = driver
                try:
                    while not self._set:  # woken for something else: park again
                        yield PARKED
                finally:
                    self._driver = None
            else:
                future = self._future = asyncio.get_running_loop().create_future()
                try:
                    yield from future
                finally:
                    self._future = None
        error = self._error
        if error is not None:
            raise error
        return self._value  # type: ignore[return-value]  # set: a T
