"""HTTP/2 header blocks to messages and back."""

from __future__ import annotations

import pytest

from lightmesh.core.errors import BadRequest, HeadersTooLarge, Unsupported
from lightmesh.protocol import h2msg
from lightmesh.protocol.messages import NO_BODY, Request, Response

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"web:80"), (b":path", b"/a?b")]


def test_pseudo_headers_become_request_fields_and_the_rest_stay_headers() -> None:
    request, length = h2msg.request_from_h2([*GET, (b"accept", b"*/*"), (b"content-length", b"5")])
    assert (request.method, request.path, request.authority, request.version) == (
        b"GET",
        b"/a?b",
        b"web:80",
        b"2",
    )
    assert request.headers == [(b"accept", b"*/*"), (b"content-length", b"5")]
    assert length == 5


def test_host_header_is_the_authority_when_there_is_no_pseudo_authority() -> None:
    request, _ = h2msg.request_from_h2([(b":method", b"GET"), (b":path", b"/"), (b"host", b"h:1")])
    assert request.authority == b"h:1"
    assert request.headers == []


def test_more_than_100_fields_is_too_large() -> None:
    fields = [(b"x-%d" % i, b"v") for i in range(101)]
    with pytest.raises(HeadersTooLarge):
        h2msg.request_from_h2(GET + fields)


def test_connect_over_http2_is_refused_clearly() -> None:
    with pytest.raises(Unsupported, match="CONNECT"):
        h2msg.request_from_h2([(b":method", b"CONNECT"), (b":authority", b"h:443")])


def test_missing_method_or_path_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        h2msg.request_from_h2([(b":path", b"/")])
    with pytest.raises(BadRequest):
        h2msg.request_from_h2([(b":method", b"GET")])


def test_upstream_request_carries_authority_and_the_remaining_deadline() -> None:
    request = Request(b"POST", b"/svc/M", [(b"grpc-timeout", b"1S"), (b"te", b"trailers")], NO_BODY)
    headers = h2msg.request_to_h2(request, b"10.0.0.1:80", grpc_timeout=b"999000u")
    assert headers == [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"10.0.0.1:80"),
        (b":path", b"/svc/M"),
        (b"grpc-timeout", b"999000u"),
        (b"te", b"trailers"),
    ]


def test_responses_round_trip_status_and_headers() -> None:
    response = h2msg.response_from_h2([(b":status", b"404"), (b"x", b"y")], NO_BODY)
    assert (response.status, response.headers) == (404, [(b"x", b"y")])
    encoded = h2msg.response_to_h2(Response(204, [(b"a", b"b")], NO_BODY))
    assert encoded == [(b":status", b"204"), (b"a", b"b")]
