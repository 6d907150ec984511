"""Retries within a budget, and one attempt's response timeout, for profiled services.

Every request of the service deposits in the service's
:class:`~lightmesh.core.budget.RetryBudget`. On a retryable route, the request body
(at most 64 KiB, see :mod:`lightmesh.proxy.replay`) is kept, and a failed attempt (a
response its route classifies as a failure, a gRPC status found in the trailers of a
unary response, or a connection failure, reset or response timeout) is sent again (to
another endpoint than the failed attempt's, when there is one) while the request's
retry limit (the route's, default 3, or ``lightmesh-retry-limit``) and the budget allow.
The response of the last attempt goes to the client whole: the failed ones are
discarded, never mixed in. A non-retryable route, a larger body, or a request with
``Expect: 100-continue`` gets one attempt.

Each attempt is counted in the route's *actual* stats; ``route_retry_total`` counts
retries and ``route_retry_skipped_total`` the failures not retried (``budget``,
``limit``, ``body``). A route's ``response_timeout`` bounds each attempt to its
response head (504, counted as ``route_timeout_total{kind="response"}``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from lightmesh.core.budget import RetryBudget
from lightmesh.core.errors import ENDPOINT_FAILURES, ProxyError, ResponseTimeout
from lightmesh.protocol.messages import Response
from lightmesh.proxy.layers.route import RouteCall
from lightmesh.proxy.replay import Replay, buffer_request, peek_status
from lightmesh.proxy.service import Layer, Request, Service

_clock: Final = time.perf_counter
_SAVED: Final = ("method", "path", "version", "authority", "keep_alive", "upgrade")


async def _attempt(inner: Service, request: Request, call: RouteCall) -> Response:
    call.counters.actual.requests += 1
    timeout = call.route.response_timeout
    if timeout is None:
        return await inner(request)
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await inner(request)
    except TimeoutError:
        if not scope.expired():
            raise
        call.counters.timed_out("response")
        why = f"no response within {timeout * 1000:.0f}ms (route {call.route.name!r})"
        raise ResponseTimeout(why) from None


def retry_layer(budget: RetryBudget) -> Layer:
    def layer(inner: Service) -> Service:
        async def service(request: Request) -> Response:
            call = request.route
            assert isinstance(call, RouteCall)
            loop = asyncio.get_running_loop()
            budget.deposit(loop.time())
            if not call.route.retryable or call.retry_limit == 0:
                return await _once(inner, request, call)
            if request.expect_continue:
                call.counters.skip("body")
                return await _once(inner, request, call)
            kept = await buffer_request(request.body)
            if not isinstance(kept, Replay):
                request.body = kept
                call.counters.skip("body")
                return await _once(inner, request, call)
            return await _retrying(inner, request, call, kept, budget)

        return service

    return layer


async def _once(inner: Service, request: Request, call: RouteCall) -> Response:
    """One attempt; its response is recorded as actual by the route layer's recorder."""
    start = _clock()
    try:
        response = await _attempt(inner, request, call)
    except ProxyError as exc:
        call.counters.actual.response(exc.status, None, "failure", (_clock() - start) * 1000.0)
        raise
    call.once = True
    return response


async def _retrying(
    inner: Service, request: Request, call: RouteCall, kept: Replay, budget: RetryBudget
) -> Response:
    saved = [getattr(request, name) for name in _SAVED]
    headers = list(request.headers)
    route, counters = call.route, call.counters
    loop = asyncio.get_running_loop()
    retries = 0
    while True:
        request.body = kept.body()
        start = _clock()
        response: Response | None = None
        error: ProxyError | None = None
        try:
            response = await _attempt(inner, request, call)
        except ENDPOINT_FAILURES as exc:
            error = exc
            failed = True
            counters.actual.response(exc.status, None, "failure", (_clock() - start) * 1000.0)
        else:
            try:
                grpc = await peek_status(response)
            except BaseException:
                response.body.discard()  # cancelled or broken while reading: let the upstream go
                raise
            failed = route.failed(response.status, grpc)
            counters.actual.response(
                response.status, grpc, "failure" if failed else "success", (_clock() - start) * 1000.0
            )
        if not failed:
            assert response is not None
            return response
        if retries >= call.retry_limit:
            counters.skip("limit")
        elif not budget.withdraw(loop.time()):
            counters.skip("budget")
        else:
            retries += 1
            counters.retries += 1
            call.avoid = call.last  # another endpoint, if there is one
            if response is not None:
                response.body.discard()
                response.finish(None)
            for name, value in zip(_SAVED, saved, strict=True):
                setattr(request, name, value)
            request.headers = list(headers)
            continue
        if error is not None:
            raise error
        assert response is not None
        return response
