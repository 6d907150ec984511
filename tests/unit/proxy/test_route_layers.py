"""The route layers over a scripted upstream, in virtual time (looptime).

A fake inner service plays the upstream: it answers from a script per attempt and
records what it was sent. The stack is the one the router builds for a profiled
service (route -> timeout -> fault -> retry -> upstream).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from lightmesh.core.budget import RetryBudget
from lightmesh.core.errors import ResponseTimeout, UpstreamError
from lightmesh.core.routes import Budget, Fault, Method, PathExact, Profile, Route
from lightmesh.io.body import StreamBody
from lightmesh.protocol.messages import NO_BODY, BytesBody, Headers, Request, Response
from lightmesh.proxy.layers.deadline import deadline_layer, forward_deadline
from lightmesh.proxy.layers.fault import fault_layer
from lightmesh.proxy.layers.retry import retry_layer
from lightmesh.proxy.layers.route import route_layer
from lightmesh.proxy.layers.timeout import timeout_layer
from lightmesh.proxy.routestats import RouteTable
from lightmesh.proxy.service import Service, stack
from tests.support.virtual_time import in_loop

GRPC = [(b"content-type", b"application/grpc")]
Step = Callable[[Request], Response]


class Upstream:
    def __init__(self, *script: Step | int) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        self.headers: list[Headers] = []

    async def __call__(self, request: Request) -> Response:
        data = b""
        while chunk := await request.body.read():
            data += chunk
        self.bodies.append(data)
        self.headers.append(list(request.headers))
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, int):
            return Response(step, [], BytesBody(b"status %d" % step))
        return step(request)


def build(
    upstream: Service, *routes: Route, budget: RetryBudget | None = None, overrides: bool = False
) -> tuple[Service, RouteTable]:
    table = RouteTable()
    profile = Profile(routes, Budget(), overrides)
    svc = stack(
        upstream,
        retry_layer(budget or RetryBudget()),
        fault_layer(random.Random(7)),
        timeout_layer(),
        route_layer(profile, "web:80", table),
    )  # every layer, as the router builds it for a profile that uses them all
    return svc, table


def get(path: bytes = b"/x", headers: Headers | None = None, method: bytes = b"GET") -> Request:
    return Request(method, path, headers or [], NO_BODY, b"web:80")


RETRYABLE = Route("x", PathExact(b"/x"), retryable=True)


@in_loop()
async def test_a_failed_attempt_is_retried_and_the_client_sees_only_the_last() -> None:
    upstream = Upstream(503, 503, 200)
    svc, table = build(upstream, RETRYABLE)
    response = await svc(get())
    assert response.status == 200
    assert await response.body.read() == b"status 200"
    counters = table.get("web:80", "x")
    assert counters.retries == 2 and counters.actual.requests == 3


@in_loop()
async def test_the_retry_limit_and_override_bound_attempts() -> None:
    upstream = Upstream(503)
    svc, table = build(upstream, Route("x", retryable=True, retry_limit=2), overrides=True)
    assert (await svc(get())).status == 503
    assert len(upstream.bodies) == 3
    assert (await svc(get(headers=[(b"lightmesh-retry-limit", b"0")]))).status == 503
    assert len(upstream.bodies) == 4
    assert all(b"lightmesh-retry-limit" not in dict(h) for h in upstream.headers)
    assert table.get("web:80", "x").skipped == {"limit": 1}  # a limit of 0 is not a skipped retry


@in_loop()
async def test_an_exhausted_budget_stops_retries() -> None:
    upstream = Upstream(503)
    svc, table = build(upstream, RETRYABLE, budget=RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10))
    assert (await svc(get())).status == 503
    assert len(upstream.bodies) == 2  # one retry in the reserve, then none
    assert table.get("web:80", "x").skipped == {"budget": 1}


@in_loop()
async def test_non_retryable_routes_get_one_attempt() -> None:
    upstream = Upstream(503, 200)
    svc, _ = build(upstream, Route("post", Method(b"POST")))
    assert (await svc(get(method=b"POST"))).status == 503
    assert len(upstream.bodies) == 1


@in_loop()
async def test_the_request_body_is_replayed_whole_on_every_attempt() -> None:
    upstream = Upstream(503, 200)
    svc, _ = build(upstream, RETRYABLE)
    body = StreamBody(None)
    body.feed(b"hello ")
    body.feed(b"world")
    body.feed_eof()
    request = Request(b"PUT", b"/x", [], body, b"web:80")
    assert (await svc(request)).status == 200
    assert upstream.bodies == [b"hello world", b"hello world"]


@in_loop()
async def test_bodies_over_64_kib_are_sent_once_unchanged() -> None:
    upstream = Upstream(503, 200)
    svc, table = build(upstream, RETRYABLE)
    body = StreamBody(None)
    payload = bytes(range(256)) * 300  # 76,800 bytes
    for i in range(0, len(payload), 10_000):
        body.feed(payload[i : i + 10_000])
    body.feed_eof()
    assert (await svc(Request(b"PUT", b"/x", [], body, b"web:80"))).status == 503
    assert upstream.bodies == [payload]
    assert table.get("web:80", "x").skipped == {"body": 1}


@in_loop()
async def test_grpc_failures_in_trailers_are_retried_like_status_failures() -> None:
    def unavailable(_: Request) -> Response:
        return Response(200, list(GRPC), BytesBody(b"", [(b"grpc-status", b"14")]))

    def ok(_: Request) -> Response:
        return Response(200, list(GRPC), BytesBody(b"\x00\x00\x00\x00\x01x", [(b"grpc-status", b"0")]))

    upstream = Upstream(unavailable, ok)
    svc, _ = build(upstream, RETRYABLE)
    response = await svc(get(headers=list(GRPC)))
    assert await response.body.read() == b"\x00\x00\x00\x00\x01x"
    assert response.body.trailers == [(b"grpc-status", b"0")]
    assert len(upstream.bodies) == 2


@in_loop()
async def test_connection_failures_are_retried() -> None:
    def refused(_: Request) -> Response:
        raise UpstreamError("connection refused")

    upstream = Upstream(refused, 200)
    svc, _ = build(upstream, RETRYABLE)
    assert (await svc(get())).status == 200


@in_loop()
async def test_the_route_timeout_answers_504_exactly_when_it_passes() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(10)
        return Response(200, [], NO_BODY)

    svc, table = build(slow, Route("slow", timeout=0.3))
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = await svc(get())
    assert loop.time() - start == pytest.approx(0.3)
    assert response.status == 504
    assert dict(response.headers)[b"lightmesh-proxy-error"] == b"route 'slow' timed out after 300ms"
    assert table.get("web:80", "slow").timeouts == {"request": 1}


@in_loop()
async def test_a_response_timeout_fails_one_attempt_and_the_retry_answers() -> None:
    calls = 0

    async def first_slow(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)
        return Response(200, [], NO_BODY)

    svc, table = build(first_slow, Route("x", retryable=True, response_timeout=0.1))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert (await svc(get())).status == 200
    assert loop.time() - start == pytest.approx(0.1)
    assert table.get("web:80", "x").timeouts == {"response": 1}


@in_loop()
async def test_injected_delay_and_abort() -> None:
    upstream = Upstream(200)
    svc, _ = build(upstream, Route("f", fault=Fault(503, 100.0, 0.25, 100.0)))
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = await svc(get())
    assert loop.time() - start == pytest.approx(0.25)
    assert response.status == 503 and b"fault injected" in dict(response.headers)[b"lightmesh-proxy-error"]
    assert upstream.bodies == []


@in_loop()
async def test_lightmesh_deadline_is_forwarded_minus_elapsed_and_enforced() -> None:
    seen: list[bytes] = []

    async def hop(request: Request) -> Response:
        await asyncio.sleep(0.1)
        forward_deadline(request, asyncio.get_running_loop().time())
        seen.append(dict(request.headers)[b"lightmesh-deadline"])
        await asyncio.sleep(1.0)
        return Response(200, [], NO_BODY)

    svc = stack(hop, deadline_layer())
    response = await svc(get(headers=[(b"lightmesh-deadline", b"500")]))
    assert seen == [b"400"]
    assert response.status == 504
    expired = await svc(get(headers=[(b"lightmesh-deadline", b"0")]))
    assert expired.status == 504 and seen == [b"400"]  # not forwarded at all


@in_loop()
async def test_a_response_body_idle_past_the_idle_timeout_fails_and_is_discarded() -> None:
    body = StreamBody(None)

    async def streaming(request: Request) -> Response:
        body.feed(b"first")
        return Response(200, [], body)

    svc, table = build(streaming, Route("s", idle_timeout=2.0))
    loop = asyncio.get_running_loop()
    response = await svc(get())
    assert await response.body.read() == b"first"
    start = loop.time()
    with pytest.raises(ResponseTimeout, match="idle for 2000ms"):
        await response.body.read()
    assert loop.time() - start == pytest.approx(2.0)
    assert body.read_nowait() is None  # the upstream body was discarded: nothing buffered
    assert table.get("web:80", "s").timeouts == {"idle": 1}
