"""The tap layer: free when idle, three events per tapped request, redaction, limits and rates."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import Unavailable
from lightmesh.protocol.messages import BytesBody, ConnInfo, Request, Response
from lightmesh.proxy.announce import reachable
from lightmesh.proxy.layers.tap import serve_tapped, tap_layer
from lightmesh.proxy.taphub import Observer, TapHub
from lightmesh.proxy.tapmatch import compile_match

CONN = ConnInfo("inbound", ("10.0.0.9", 40000), ("10.0.0.5", 4143))


def _request(path: bytes = b"/api", headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    return Request(b"GET", path, headers or [], BytesBody(), authority=b"web:80", conn=CONN)


def _hub() -> TapHub:
    own = {"namespace": "default", "pod": "web-0", "service": "web"}
    return TapHub(own, ["x-api-key"], SocketAddr("127.0.0.1", 8080))


def _run(coro: Awaitable[Response]) -> Response:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_finish(coro))
    finally:
        loop.close()


async def _finish(coro: Awaitable[Response]) -> Response:
    response = await coro
    while await response.body.read():
        pass
    response.finish(None)
    return response


def test_an_untapped_proxy_returns_the_inner_awaitable_itself() -> None:
    sentinel: Awaitable[Response] = asyncio.Future()  # never awaited: only its identity matters

    def inner(request: Request) -> Awaitable[Response]:
        return sentinel

    service = tap_layer(_hub(), "inbound")(inner)
    assert service(_request()) is sentinel  # no wrapper coroutine, nothing allocated by the layer


def test_the_served_stack_has_the_tap_layer_only_from_the_first_observer_to_the_last() -> None:
    hub = _hub()
    served: list[object] = []
    serve_tapped(hub, "inbound", _ok, served.append)
    assert served == [_ok]  # nobody taps: the stack without the layer
    first = _observe(hub)
    second = _observe(hub)
    assert len(served) == 2 and served[-1] is not _ok  # swapped once, at the first observer
    hub.remove(first)
    assert len(served) == 2
    hub.remove(second)
    assert served[-1] is _ok and len(served) == 3
    response = _run(served[1](_request()))  # type: ignore[operator]
    assert response.status == 200  # a request still in the tapped stack goes on untapped


def test_a_stack_served_while_someone_taps_starts_tapped_and_reports() -> None:
    hub = _hub()
    observer = _observe(hub)
    served: list[object] = []
    serve_tapped(hub, "inbound", _ok, served.append)
    assert served[-1] is not _ok
    _run(served[-1](_request()))  # type: ignore[operator]
    assert len(_events(observer)) == 3


def test_a_request_in_flight_when_the_last_tap_leaves_ends_its_events() -> None:
    hub = _hub()
    observer = _observe(hub)

    async def scenario() -> None:
        answer = asyncio.Event()

        async def slow(request: Request) -> Response:
            await answer.wait()
            return await _ok(request)

        served: list[object] = []
        serve_tapped(hub, "inbound", slow, served.append)
        call = asyncio.ensure_future(_finish(served[-1](_request())))  # type: ignore[operator]
        await asyncio.sleep(0)  # the request is waiting for its answer
        hub.remove(observer)  # the last one leaves: new requests get the plain stack
        assert served[-1] is slow
        answer.set()
        await call

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert len(_events(observer)) == 3 and observer.pending == 0


def _observe(hub: TapHub, match: pb.Match | None = None, max_rps: float = 1000.0, limit: int = 0) -> Observer:
    observer = Observer(compile_match(match), max_rps, limit, 0.0)
    hub.add(observer)
    return observer


def _events(observer: Observer) -> list[pb.TapEvent]:
    out = []
    while not observer.queue.empty():
        item = observer.queue.get_nowait()
        if item is not None:
            out.append(item)
    return out


async def _ok(request: Request) -> Response:
    return Response(
        200, [(b"set-cookie", b"s=1"), (b"x-ok", b"1")], BytesBody(b"hello", [(b"grpc-status", b"0")])
    )


def test_a_tapped_request_gives_three_events_with_one_id() -> None:
    hub = _hub()
    observer = _observe(hub)
    headers = [(b"authorization", b"Bearer t"), (b"x-api-key", b"k"), (b"x-trace", b"t1")]
    _run(tap_layer(hub, "inbound")(_ok)(_request(headers=headers)))
    req, rsp, end = _events(observer)
    assert req.http.request_init.id == rsp.http.response_init.id == end.http.response_end.id
    assert req.proxy == "default/web-0"
    assert (req.destination.ip, req.destination.port) == ("127.0.0.1", 8080)
    assert dict(req.destination_meta) == {"namespace": "default", "pod": "web-0", "service": "web"}
    sent = {h.name: h.value for h in req.http.request_init.headers}
    assert sent == {"authorization": b"[redacted]", "x-api-key": b"[redacted]", "x-trace": b"t1"}
    assert {h.name: h.value for h in rsp.http.response_init.headers}["set-cookie"] == b"[redacted]"
    assert end.http.response_end.response_bytes == 5
    assert end.http.response_end.eos.grpc_status_code == 0
    assert observer.pending == 0


def test_requests_outside_the_match_are_not_reported() -> None:
    hub = _hub()
    match = pb.Match(http=pb.Match.Http(path=pb.Match.Http.StringMatch(prefix="/web")))
    observer = _observe(hub, match)
    _run(tap_layer(hub, "inbound")(_ok)(_request(b"/api")))
    assert _events(observer) == []


def test_the_limit_settles_the_observer_after_that_many_requests() -> None:
    hub = _hub()
    observer = _observe(hub, limit=1)
    service = tap_layer(hub, "inbound")(_ok)
    _run(service(_request()))
    _run(service(_request()))
    assert len(_events(observer)) == 3
    assert observer.settled.is_set()


def test_an_outbound_request_to_a_name_is_described_by_its_authority() -> None:
    hub = _hub()
    facts = hub.facts(_request(), "outbound")
    assert (facts.dst_ip, facts.dst_port) == ("", 80)
    assert facts.dst_meta == {"authority": "web:80", "service": "web", "namespace": "default"}
    assert facts.src_meta["pod"] == "web-0"


def test_announced_addresses_are_reachable() -> None:
    assert reachable(SocketAddr("0.0.0.0", 4191), "10.1.2.3") == "10.1.2.3:4191"
    assert reachable(SocketAddr("127.0.0.1", 4190), "10.1.2.3") == "127.0.0.1:4190"
    assert reachable(SocketAddr("::", 4190), "fd00::5") == "[fd00::5]:4190"


def test_an_outbound_request_is_reported_once_routed_with_its_endpoint_and_mtls() -> None:
    hub = _hub()
    observer = _observe(hub)
    routed_before: list[int] = []

    async def router(request: Request) -> Response:
        routed_before.append(observer.queue.qsize())  # nothing reported before the pick
        request.dst_labels = (("dst_pod", "web-1"), ("server_id", "web.default.serviceaccount"))
        assert request.on_routed is not None
        request.on_routed(request, SocketAddr("10.0.0.7", 8080))
        request.on_routed(request, SocketAddr("10.0.0.8", 8080))  # a retry picks again
        return await _ok(request)

    _run(tap_layer(hub, "outbound")(router)(_request()))
    req, rsp, end = _events(observer)
    assert routed_before == [0]
    assert rsp.http.response_init.http_status == 200
    assert req.http.WhichOneof("event") == "request_init"
    assert (req.destination.ip, req.destination.port) == ("10.0.0.7", 8080)
    assert req.tls and req.destination_meta["pod"] == "web-1"
    assert (end.destination.ip, end.tls) == ("10.0.0.8", True)


def test_an_outbound_request_that_fails_before_routing_is_still_reported() -> None:
    hub = _hub()
    observer = _observe(hub)

    async def no_endpoints(request: Request) -> Response:
        raise Unavailable("no endpoints")

    with pytest.raises(Unavailable):
        _run(tap_layer(hub, "outbound")(no_endpoints)(_request()))
    req, end = _events(observer)
    assert req.http.WhichOneof("event") == "request_init"
    assert not req.tls
    assert end.http.response_end.eos.error == "no endpoints"
