"""The inbound stack's own layers over fake services: metrics (which also turns proxy errors
into responses), the deadline layer's header scan, and the inbound forwarder."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import StreamReset, UpstreamError
from lightmesh.core.stats import TcpStats
from lightmesh.io.sweep import Sweeper
from lightmesh.protocol.messages import NO_BODY, BytesBody, ConnInfo, Headers, Request, Response
from lightmesh.proxy.endpoint import Connector
from lightmesh.proxy.inbound import STRIPPED, InboundForwarder
from lightmesh.proxy.layers.deadline import deadline_layer
from lightmesh.proxy.layers.metrics import metrics_layer
from lightmesh.proxy.telemetry import HttpTable
from tests.support.virtual_time import in_loop

PLAIN = ConnInfo("inbound", ("10.0.0.9", 40000), ("10.0.0.5", 4143))
MESH = ConnInfo("inbound", ("10.0.0.9", 40000), ("10.0.0.5", 4143), tls=True, peer_id="web.default.sa")


def _request(headers: Headers | None = None, version: bytes = b"1.1", conn: ConnInfo = PLAIN) -> Request:
    return Request(b"GET", b"/", headers or [], NO_BODY, authority=b"web:80", version=version, conn=conn)


async def _fails(request: Request) -> Response:
    raise UpstreamError("connection refused")


async def _resets(request: Request) -> Response:
    raise StreamReset("upstream reset the stream", 8)


async def _ok(request: Request) -> Response:
    return Response(200, [], BytesBody(b"hi"))


@in_loop()
async def test_a_proxy_error_below_metrics_is_the_response_counted() -> None:
    table = HttpTable("inbound")
    response = await metrics_layer(table)(_fails)(_request())
    assert response.status == 502
    assert dict(response.headers)[b"lightmesh-proxy-error"] == b"connection refused"
    response.finish(None)
    stats = table.get(b"web:80", False)
    assert stats.requests == 1
    assert [(key, s.count) for key, s in stats.responses.items()] == [((502, None, "failure"), 1)]


@in_loop()
async def test_an_upstream_reset_reaches_an_http2_client_as_a_reset_and_counts_the_request() -> None:
    table = HttpTable("inbound")
    with pytest.raises(StreamReset):
        await metrics_layer(table)(_resets)(_request(version=b"2"))
    stats = table.get(b"web:80", False)
    assert (stats.requests, stats.responses) == (1, {})


@in_loop()
async def test_an_upstream_reset_is_a_502_for_an_http1_client() -> None:
    response = await metrics_layer(HttpTable("inbound"))(_resets)(_request())
    assert response.status == 502


@in_loop()
async def test_metrics_count_a_mesh_tls_request_under_tls_once_per_series() -> None:
    table = HttpTable("inbound")
    service = metrics_layer(table)(_ok)
    for _ in range(3):
        (await service(_request(conn=MESH))).finish(None)
    stats = table.get(b"web:80", True)
    assert stats.requests == 3
    assert stats.responses[200, None, "success"].count == 3
    assert table.get(b"web:80", False).requests == 0


@in_loop()
async def test_a_request_without_deadline_or_stripped_headers_goes_straight_to_the_inner_service() -> None:
    sent: list[Request] = []

    def inner(request: Request) -> Awaitable[Response]:
        sent.append(request)
        return _ok(request)

    headers = [(b"host", b"web"), (b"accept", b"*/*")]
    request = _request(list(headers))
    awaitable = deadline_layer(strip=STRIPPED)(inner)(request)
    assert sent == [request] and request.headers == headers and request.deadline is None
    assert (await awaitable).status == 200


@pytest.mark.parametrize("name", sorted(STRIPPED))
@in_loop()
async def test_the_inbound_deadline_layer_strips_override_headers_and_a_client_sent_client_id(
    name: bytes,
) -> None:
    seen: list[Headers] = []

    def inner(request: Request) -> Awaitable[Response]:
        seen.append(list(request.headers))
        return _ok(request)

    request = _request([(b"host", b"web"), (name, b"x"), (b"accept", b"*/*")])
    await deadline_layer(strip=STRIPPED)(inner)(request)
    assert seen == [[(b"host", b"web"), (b"accept", b"*/*")]]


def _forwarder(forward: SocketAddr | None) -> InboundForwarder:
    connector = Connector(TcpStats("inbound", "dst"), Sweeper(asyncio.get_running_loop()), 1.0, 10.0)
    return InboundForwarder(forward, connector)


@in_loop(virtual=False)  # a real connection attempt, refused at once
async def test_the_forwarder_names_the_proven_client_and_labels_its_metrics() -> None:
    forwarder = _forwarder(SocketAddr("127.0.0.1", 1))  # nothing listens: the send fails
    request = _request(conn=MESH)
    with pytest.raises(UpstreamError):
        await forwarder.send(request)
    assert request.headers[-1] == (b"lightmesh-client-id", b"web.default.sa")
    assert request.dst_labels == (("client_id", "web.default.sa"),)


@in_loop(virtual=False)
async def test_the_forwarder_reuses_one_pool_per_target_and_authority() -> None:
    forwarder = _forwarder(SocketAddr("127.0.0.1", 1))
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await forwarder.send(_request())
    assert list(forwarder.connector.pools) == [(SocketAddr("127.0.0.1", 1), b"web:80")]


@in_loop()
async def test_without_forward_address_or_redirect_the_forwarder_fails_with_502() -> None:
    with pytest.raises(UpstreamError, match="no inbound forward address"):
        await _forwarder(None).send(_request())
