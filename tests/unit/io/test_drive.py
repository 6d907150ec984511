"""The Driver runs a coroutine as a Task would (futures, parking, asyncio.timeout, cancellation);
a Handoff parks a driven coroutine, and gives a Task a future.

Virtual time (looptime) for the timeouts and sleeps; one test on uvloop, the proxy's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import uvloop

from lightmesh.io.drive import Driver, Handoff
from tests.support.virtual_time import in_loop


class Run:
    """A driver whose ``done`` is a future the test awaits."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[BaseException | None] = self.loop.create_future()
        self.driver = Driver(self.loop, self.ended.set_result)

    def start(self, coro: Coroutine[Any, Any, None]) -> Run:
        self.driver.start(coro)
        return self

    async def error(self) -> BaseException | None:
        return await self.ended


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@in_loop()
async def test_a_coroutine_runs_from_the_next_iteration_to_its_end() -> None:
    steps: list[str] = []

    async def body() -> None:
        steps.append("ran")

    run = Run().start(body())
    assert steps == [] and run.driver.running  # started with call_soon, not inline
    assert await run.error() is None
    assert steps == ["ran"] and not run.driver.running and run.driver.done()


@in_loop()
async def test_awaited_futures_deliver_results_and_exceptions() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[int] = loop.create_future()
    second: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def body() -> None:
        seen.append(await first)
        try:
            await second
        except KeyError as exc:
            seen.append(exc)

    run = Run().start(body())
    await settle()
    first.set_result(7)
    await settle()
    second.set_exception(KeyError("k"))
    assert await run.error() is None
    assert seen[0] == 7 and isinstance(seen[1], KeyError)


@in_loop()
async def test_a_parked_coroutine_waits_for_wake_and_a_second_wake_is_harmless() -> None:
    rounds: list[int] = []
    run = Run()

    async def body() -> None:
        for i in range(2):
            await run.driver.parked()
            rounds.append(i)

    run.start(body())
    await settle()
    assert run.driver.is_parked and rounds == []
    run.driver.wake()
    run.driver.wake()  # already woken: nothing more
    await settle()
    assert rounds == [0] and run.driver.is_parked
    run.driver.wake()
    assert await run.error() is None
    assert rounds == [0, 1]


@in_loop()
async def test_the_driver_is_the_current_task_while_it_steps() -> None:
    run = Run()
    seen: list[object] = []

    async def body() -> None:
        seen.append(asyncio.current_task())
        await asyncio.sleep(1)
        seen.append(asyncio.current_task())

    await run.start(body()).error()
    assert seen == [run.driver, run.driver]
    assert asyncio.current_task() is not run.driver  # the test's own task, after


@in_loop()
async def test_asyncio_timeout_inside_raises_timeout_error_and_leaves_no_cancel_behind() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()
    run = Run()
    seen: list[object] = []

    async def body() -> None:
        started = loop.time()
        try:
            async with asyncio.timeout(0.25):
                await never
        except TimeoutError:
            seen.append(loop.time() - started)
        seen.append(run.driver.cancelling())
        await asyncio.sleep(1)  # still usable after the timeout
        seen.append("after")

    assert await run.start(body()).error() is None
    assert seen == [0.25, 0, "after"] and never.cancelled()


@in_loop()
async def test_asyncio_timeout_that_does_not_expire_changes_nothing() -> None:
    run = Run()
    seen: list[object] = []

    async def body() -> None:
        async with asyncio.timeout(5):
            await asyncio.sleep(1)
        seen.append(run.driver.cancelling())

    assert await run.start(body()).error() is None
    assert seen == [0]


@in_loop()
async def test_cancel_while_awaiting_a_future_cancels_it_and_throws_cancelled_error_in() -> None:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] = loop.create_future()
    run = Run()
    cleaned: list[bool] = []

    async def body() -> None:
        try:
            await pending
        finally:
            cleaned.append(True)

    run.start(body())
    await settle()
    assert run.driver.cancel()
    error = await run.error()
    assert isinstance(error, asyncio.CancelledError) and pending.cancelled() and cleaned == [True]
    assert not run.driver.cancel()  # nothing left to cancel


@in_loop()
async def test_cancel_while_parked_throws_cancelled_error_at_the_park() -> None:
    run = Run()

    async def body() -> None:
        await run.driver.parked()
        raise AssertionError("resumed normally after a cancel")

    run.start(body())
    await settle()
    run.driver.cancel()
    assert isinstance(await run.error(), asyncio.CancelledError)


@in_loop()
async def test_cancel_before_the_first_step_never_runs_the_body() -> None:
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    run = Run().start(body())
    run.driver.cancel()
    assert isinstance(await run.error(), asyncio.CancelledError) and ran == []


@in_loop()
async def test_cancel_from_inside_a_step_reaches_the_next_await_or_park() -> None:
    loop = asyncio.get_running_loop()
    run = Run()
    seen: list[str] = []

    async def body() -> None:
        run.driver.cancel()  # e.g. the connection was lost by something this step did
        try:
            await loop.create_future()
        except asyncio.CancelledError:
            seen.append("future")
            run.driver.uncancel()
        run.driver.cancel()
        try:
            await run.driver.parked()
        except asyncio.CancelledError:
            seen.append("park")
            raise

    assert isinstance(await run.start(body()).error(), asyncio.CancelledError)
    assert seen == ["future", "park"]


@in_loop()
async def test_a_bare_yield_steps_again_and_an_exception_ends_the_run() -> None:
    run = Run()

    async def body() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    error = await run.start(body()).error()
    assert isinstance(error, ValueError) and str(error) == "boom"


@in_loop()
async def test_a_handoff_parks_a_driven_coroutine_until_its_result_comes() -> None:
    handoff: Handoff[str] = Handoff()
    run = Run()
    got: list[str] = []

    async def body() -> None:
        got.append(await handoff)

    run.start(body())
    await settle()
    assert run.driver.is_parked and handoff.pending
    run.driver.wake()  # woken for something else (a pipelined request): parks again
    await settle()
    assert run.driver.is_parked and got == []
    handoff.set_result("response")
    handoff.set_result("another")  # only the first counts
    assert await run.error() is None
    assert got == ["response"] and not handoff.pending


@in_loop()
async def test_a_handoff_raises_its_exception_in_the_waiter() -> None:
    handoff: Handoff[str] = Handoff()
    run = Run()

    async def body() -> None:
        await handoff

    run.start(body())
    await settle()
    handoff.set_exception(ConnectionError("upstream closed"))
    error = await run.error()
    assert isinstance(error, ConnectionError) and str(error) == "upstream closed"


@in_loop()
async def test_a_handoff_set_before_it_is_awaited_returns_at_once() -> None:
    handoff: Handoff[int] = Handoff()
    handoff.set_result(3)
    run = Run()
    got: list[int] = []

    async def body() -> None:
        got.append(await handoff)

    assert await run.start(body()).error() is None and got == [3]


@in_loop()
async def test_a_task_awaiting_a_handoff_waits_on_a_future() -> None:
    handoff: Handoff[str] = Handoff()
    waiter = asyncio.get_running_loop().create_task(_awaiting(handoff))
    await settle()
    assert not waiter.done()
    handoff.set_result("for a task")
    assert await waiter == "for a task"


async def _awaiting(handoff: Handoff[str]) -> str:
    return await handoff


@in_loop()
async def test_a_timeout_around_a_handoff_cancels_the_wait_and_a_late_result_is_ignored() -> None:
    loop = asyncio.get_running_loop()
    handoff: Handoff[str] = Handoff()
    run = Run()
    seen: list[object] = []

    async def body() -> None:
        try:
            async with asyncio.timeout(0.5):
                await handoff
        except TimeoutError:
            seen.append(loop.time())

    assert await run.start(body()).error() is None
    assert seen == [0.5] and handoff.pending
    handoff.set_result("late")  # nobody waits: nothing happens
    await settle()


@in_loop()
async def test_a_cancelled_task_leaves_its_handoff_harmless() -> None:
    handoff: Handoff[str] = Handoff()
    waiter = asyncio.get_running_loop().create_task(_awaiting(handoff))
    await settle()
    waiter.cancel()
    await settle()
    assert waiter.cancelled()
    handoff.set_exception(ConnectionError("late"))  # no future to set: nothing happens
    await settle()


def test_on_uvloop_timeouts_and_futures_work_the_same() -> None:
    async def main() -> list[object]:
        run = Run()
        seen: list[object] = []

        async def body() -> None:
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(5)
            except TimeoutError:
                seen.append("timeout")
            seen.append(await asyncio.shield(asyncio.sleep(0, "shielded")))

        assert await run.start(body()).error() is None
        return seen

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main()) == ["timeout", "shielded"]
