"""Run a coroutine test on its own event loop, in virtual time (looptime) or real time.

``@in_loop()`` turns ``async def test_...`` into a plain test that runs the coroutine in
a fresh loop, closed afterwards. With virtual time (the default) ``loop.time()`` starts
at 0 and only moves when every task waits: sleeps and timeouts take no real time and
their effects happen at exact, checkable instants.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import looptime


def in_loop(
    virtual: bool = True,
) -> Callable[[Callable[..., Coroutine[Any, Any, None]]], Callable[..., None]]:
    def wrap(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> None:
            factory = (lambda: looptime.new_event_loop(start=0.0)) if virtual else asyncio.new_event_loop
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(test(*args, **kwargs))

        return run

    return wrap
