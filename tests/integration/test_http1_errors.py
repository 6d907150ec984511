"""Bad input and broken upstreams: the proxy answers for itself, briefly and safely.

Malformed or ambiguous requests get 400 (431 for oversized heads) and the
connection is closed without anything reaching the upstream; heads that do not
arrive within the header read timeout cost the client its connection; upstreams
that refuse or do not answer the connect give 502 and 504. Every response the
proxy makes itself has a ``lightmesh-proxy-error`` header saying why and never a
traceback, and a flood of bad connections does not stop good requests.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.h1_peers import BacklogSink, TrackingUpstream, closed_port, running_proxy, start_isolated
from tests.support.h1_wire import (
    ConnectionClosed,
    RawConnection,
    RawResponse,
    chunked,
    raw_request,
    split_addr,
    wait_for,
)
from tests.support.proxy import ProxyProcess


@pytest.fixture
def mesh(request: pytest.FixtureRequest, app: TrackingUpstream) -> ProxyProcess:
    """A proxy whose inbound side forwards to ``app``, with a 1 s header read timeout."""
    return start_isolated(
        request, LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr, LIGHTMESH_PROXY_HEADER_READ_TIMEOUT="1s"
    )


@pytest.fixture(scope="module")
def shared_app() -> Iterator[TrackingUpstream]:
    with TrackingUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def shared_mesh(shared_app: TrackingUpstream) -> Iterator[ProxyProcess]:
    """One proxy for the many single-exchange cases; their checks use deltas of ``shared_app``."""
    with running_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=shared_app.addr) as proxy:
        yield proxy


class UpstreamWatch:
    """What reached ``app`` since it was made: new connections and new request heads."""

    def __init__(self, app: TrackingUpstream) -> None:
        self.app = app
        self.connections = app.connections
        self.heads = len(app.received())

    def new_heads(self, settle: float = 0.3) -> list[tuple[str, str]]:
        time.sleep(settle)  # give a wrongly forwarded head time to be parsed upstream
        return self.app.received()[self.heads :]

    def new_connections(self) -> int:
        return self.app.connections - self.connections


@pytest.fixture
def sink() -> Iterator[BacklogSink]:
    with BacklogSink() as backlog:
        if not backlog.connect_hangs():
            pytest.fail("a full listen backlog does not make connects hang on this kernel")
        yield backlog


def assert_proxy_error(response: RawResponse, status: int) -> None:
    """A response the proxy made itself: the status, a reason header, a short plain body."""
    assert response.status == status, response.head
    reason = response.header("lightmesh-proxy-error")
    assert reason, "proxy-made errors carry lightmesh-proxy-error"
    assert "Traceback" not in reason
    assert b"Traceback" not in response.body
    assert b'File "' not in response.body
    assert len(response.body) < 1024


def send_and_read(listener: str, data: bytes, timeout: float = 5.0) -> tuple[RawResponse, bytes]:
    """Send ``data`` on a fresh connection; return the response and what followed it until close."""
    with RawConnection(listener, timeout=timeout) as conn:
        conn.send(data)
        response = conn.read_response()
        rest = conn.wait_closed(timeout=timeout)
    return response, rest


MALFORMED = {
    "unknown method": b"FOO /echo HTTP/1.1\r\nHost: app\r\n\r\n",
    "bare LF line endings": b"GET /echo HTTP/1.1\nHost: app\n\n",
    "space before colon": b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Field : v\r\n\r\n",
    "space in field name": b"GET /echo HTTP/1.1\r\nHost: app\r\nBad Header: v\r\n\r\n",
    "field without colon": b"GET /echo HTTP/1.1\r\nHost: app\r\nNoColonHere\r\n\r\n",
    "NUL in field value": b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Field: a\x00b\r\n\r\n",
    "obs-fold": b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Field: a\r\n  folded\r\n\r\n",
    "two Host fields": b"GET /echo HTTP/1.1\r\nHost: app\r\nHost: other\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_request_gets_400_and_the_connection_is_closed(
    shared_mesh: ProxyProcess, shared_app: TrackingUpstream, raw: bytes
) -> None:
    watch = UpstreamWatch(shared_app)
    response, rest = send_and_read(shared_mesh.inbound, raw)
    assert_proxy_error(response, 400)
    assert "close" in response.connection_tokens()
    assert rest == b""
    assert watch.new_heads() == [], "nothing reaches the upstream"
    assert watch.new_connections() == 0


MALFORMED_REQUEST_LINES = {
    "space in target": b"GET /a b HTTP/1.1\r\nHost: app\r\n\r\n",
    "text after version": b"GET /echo HTTP/1.1 extra\r\nHost: app\r\n\r\n",
    "unknown minor version": b"GET /echo HTTP/1.7\r\nHost: app\r\n\r\n",
    "control character in target": b"GET /ec\x01ho HTTP/1.1\r\nHost: app\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED_REQUEST_LINES.values(), ids=MALFORMED_REQUEST_LINES.keys())
def test_malformed_request_line_gets_400_instead_of_being_relayed(
    shared_mesh: ProxyProcess, shared_app: TrackingUpstream, raw: bytes
) -> None:
    """A request line that starts like HTTP/1 but is malformed is answered, not passed on as bytes."""
    watch = UpstreamWatch(shared_app)
    with RawConnection(shared_mesh.inbound, timeout=3) as conn:
        conn.send(raw)
        try:
            response: RawResponse | None = conn.read_response()
        except ConnectionClosed:
            response = None  # e.g. an HTTP/0.9-style answer from the application
    answer = response.head if response is not None else conn.buffer[:200]
    assert watch.new_connections() == 0, f"relayed to the application, which answered {answer!r}"
    assert response is not None
    assert_proxy_error(response, 400)


SMUGGLING = {
    "Transfer-Encoding with Content-Length": [("Transfer-Encoding", "chunked"), ("Content-Length", "4")],
    "Content-Length with Transfer-Encoding": [("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
    "conflicting Content-Lengths": [("Content-Length", "4"), ("Content-Length", "40")],
    "Content-Length list": [("Content-Length", "4, 40")],
    "non-numeric Content-Length": [("Content-Length", "4x")],
    "negative Content-Length": [("Content-Length", "-4")],
    "chunked not last": [("Transfer-Encoding", "chunked, gzip")],
    "unknown transfer coding": [("Transfer-Encoding", "xchunked")],
}


@pytest.mark.parametrize("framing", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_ambiguous_framing_gets_400_and_nothing_reaches_the_upstream(
    shared_mesh: ProxyProcess, shared_app: TrackingUpstream, framing: list[tuple[str, str]]
) -> None:
    # A pooled upstream connection is ready, so anything dispatched would be written at once.
    warm, _ = send_and_read(
        shared_mesh.inbound, raw_request("GET", "/echo?warm", [("Host", "app"), ("Connection", "close")])
    )
    assert warm.status == 200
    watch = UpstreamWatch(shared_app)
    smuggled = raw_request("GET", "/echo?smuggled", [("Host", "app")])
    raw = raw_request("POST", "/echo?ambiguous", [("Host", "app"), *framing], chunked(b"abcd") + smuggled)
    response, rest = send_and_read(shared_mesh.inbound, raw)
    assert_proxy_error(response, 400)
    assert rest == b"", "only one response, and the connection is closed"
    assert watch.new_heads() == [], "the rejected request reached the upstream"
    assert watch.new_connections() == 0


def test_invalid_chunk_size_mid_body_ends_the_exchange_without_hanging(
    mesh: ProxyProcess, app: TrackingUpstream
) -> None:
    head = raw_request("POST", "/echo?broken-chunk", [("Host", "app"), ("Transfer-Encoding", "chunked")])
    with RawConnection(mesh.inbound, timeout=5) as conn:
        conn.send(head + b"4\r\nabcd\r\n")
        # The request is on its way upstream before the broken chunk arrives.
        assert wait_for(lambda: ("POST", "/echo?broken-chunk") in app.received(), timeout=5)
        conn.send(b"zz\r\nnot hex\r\n0\r\n\r\n")
        try:
            data = conn.read_until_close(timeout=5)
        except TimeoutError:
            pytest.fail("after a broken chunk the proxy neither answered nor closed within 5 s")
    assert not data.startswith(b"HTTP/1.1 200"), "a body with a broken chunk must not be answered as complete"
    if data:
        assert data.startswith(b"HTTP/1.1 400")
        assert b"lightmesh-proxy-error" in data


HUGE = {
    "one field over 60 KiB": [("X-Big", "a" * (61 * 1024))],
    "many fields over 60 KiB": [(f"X-F{i}", "b" * 1000) for i in range(62)],
    "more than 100 fields": [(f"X-F{i}", "v") for i in range(101)],
}


@pytest.mark.parametrize("fields", HUGE.values(), ids=HUGE.keys())
def test_oversized_head_gets_431(
    shared_mesh: ProxyProcess, shared_app: TrackingUpstream, fields: list[tuple[str, str]]
) -> None:
    watch = UpstreamWatch(shared_app)
    response, rest = send_and_read(
        shared_mesh.inbound, raw_request("GET", "/echo", [("Host", "app"), *fields])
    )
    assert_proxy_error(response, 431)
    assert rest == b""
    assert watch.new_heads() == []
    assert watch.new_connections() == 0


def test_oversized_request_target_is_refused(shared_mesh: ProxyProcess, shared_app: TrackingUpstream) -> None:
    watch = UpstreamWatch(shared_app)
    target = "/echo?" + "q" * (61 * 1024)
    response, _ = send_and_read(shared_mesh.inbound, raw_request("GET", target, [("Host", "app")]))
    assert response.status in (414, 431), response.head
    assert_proxy_error(response, response.status)
    assert watch.new_heads() == []


def test_heads_just_under_the_limits_are_accepted(shared_mesh: ProxyProcess) -> None:
    # The test application itself accepts at most 99 fields, so 98 plus Host.
    for fields in ([("X-Big", "a" * (50 * 1024))], [(f"X-F{i}", "v") for i in range(98)]):
        response, _ = send_and_read(
            shared_mesh.inbound,
            raw_request("GET", "/echo", [("Host", "app"), ("Connection", "close"), *fields]),
        )
        assert response.status == 200
        assert not response.has_header("lightmesh-proxy-error")


def _closed_within(conn: RawConnection, limit: float) -> float:
    start = time.monotonic()
    assert conn.wait_closed(timeout=limit) == b"", "a slow head gets no response, only a close"
    return time.monotonic() - start


@pytest.mark.parametrize(
    "partial",
    [b"GET /echo HTTP/1.1\r\nHost: app\r\n", b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Half: va"],
    ids=["head without the blank line", "head stopping mid-field"],
)
def test_head_not_complete_within_the_header_read_timeout_is_closed(
    mesh: ProxyProcess, partial: bytes
) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(partial)
        assert _closed_within(conn, 8) < 8


def test_partial_request_line_is_closed_within_the_header_read_timeout(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(b"GET /echo HT")
        assert _closed_within(conn, 5) < 5


def test_slowloris_trickling_a_head_byte_by_byte_is_closed_in_time(mesh: ProxyProcess) -> None:
    """The header read timeout (1 s) counts from the connection, request line included."""
    head = b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Slow: " + b"z" * 200
    with RawConnection(mesh.inbound) as conn:
        start = time.monotonic()
        closed = False
        for byte in head:  # 4 bytes a second: the head never completes in time
            try:
                conn.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if not conn.is_open_after(0.25):
                closed = True
                break
            if time.monotonic() - start > 8:
                break
        elapsed = time.monotonic() - start
    assert closed, "a head trickled in for 8 s was not cut off"
    assert elapsed < 4.0, f"closed only after {elapsed:.1f}s with a 1s header read timeout"


def test_slow_second_head_on_a_keep_alive_connection_is_closed(mesh: ProxyProcess) -> None:
    with RawConnection(mesh.inbound) as conn:
        conn.send(raw_request("GET", "/echo", [("Host", "app")]))
        assert conn.read_response().status == 200
        conn.send(b"GET /echo HTTP/1.1\r\nHost: app\r\n")
        assert _closed_within(conn, 5) < 5


@pytest.mark.parametrize("side", ["inbound", "outbound"])
def test_unreachable_upstream_gets_502_and_keep_alive_continues(
    request: pytest.FixtureRequest, side: str
) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=dead,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"dead:80={dead}",
    )
    listener = proxy.inbound if side == "inbound" else proxy.outbound
    with RawConnection(listener) as conn:
        for _ in range(2):
            conn.send(raw_request("GET", "/echo", [("Host", "dead")]))
            response = conn.read_response()
            assert_proxy_error(response, 502)
            assert dead in (response.header("lightmesh-proxy-error") or "")
    assert proxy.metric("response_total", direction=side, status_code="502", classification="failure") == 2


@pytest.mark.parametrize("side", ["inbound", "outbound"])
def test_upstream_that_does_not_accept_in_time_gets_504(
    request: pytest.FixtureRequest, sink: BacklogSink, side: str
) -> None:
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=sink.addr,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"slow:80={sink.addr}",
        LIGHTMESH_PROXY_INBOUND_CONNECT_TIMEOUT="500ms",
        LIGHTMESH_PROXY_OUTBOUND_CONNECT_TIMEOUT="500ms",
    )
    listener = proxy.inbound if side == "inbound" else proxy.outbound
    with RawConnection(listener, timeout=10) as conn:
        start = time.monotonic()
        conn.send(raw_request("GET", "/echo", [("Host", "slow")]))
        response = conn.read_response()
        waited = time.monotonic() - start
    assert_proxy_error(response, 504)
    assert "timed out" in (response.header("lightmesh-proxy-error") or "")
    assert 0.3 <= waited < 8
    assert proxy.metric("response_total", direction=side, status_code="504", classification="failure") == 1


def test_proxy_made_errors_are_counted_by_status_when_a_request_was_parsed(
    request: pytest.FixtureRequest, sink: BacklogSink
) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    proxy = start_isolated(
        request,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"dead:80={dead};slow:80={sink.addr}",
        LIGHTMESH_PROXY_OUTBOUND_CONNECT_TIMEOUT="500ms",
    )
    exchanges = [
        (raw_request("GET", "/echo", []), 400),  # parsed, but names no destination
        (raw_request("GET", "/echo", [("Host", "dead")]), 502),
        (raw_request("GET", "/echo", [("Host", "slow")]), 504),
        (raw_request("GET", "/echo", [("Host", proxy.outbound)]), 503),
        (b"FOO / HTTP/1.1\r\nHost: dead\r\n\r\n", 400),  # never parsed: not a request to count
    ]
    for raw, status in exchanges:
        with RawConnection(proxy.outbound, timeout=10) as conn:
            conn.send(raw)
            assert_proxy_error(conn.read_response(), status)

    def responses(status: str) -> float:
        return proxy.metric("response_total", direction="outbound", status_code=status)

    assert (responses("400"), responses("502"), responses("503"), responses("504")) == (1, 1, 1, 1)
    for status in ("502", "503", "504"):
        assert proxy.metric("response_total", status_code=status, classification="failure") == 1
    assert proxy.metric("request_total", direction="outbound") == 4


def test_flood_of_bad_connections_does_not_stop_good_requests(mesh: ProxyProcess) -> None:
    flavours = [
        b"\x00\xff\x13\x37 not http at all \xfe" * 20,  # garbage
        b"GET /echo HTTP/1.1\r\nHost: app\r\nX-Never: ends",  # half a head
        b"FOO / HTTP/1.1\r\nHost: app\r\n\r\n",  # malformed
        b"",  # connect and say nothing
        b"POST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\npartial body",
    ]
    bad: list[socket.socket] = []
    good = 0
    host, port = split_addr(mesh.inbound)
    deadline = time.monotonic() + 30
    try:
        for i in range(200):
            s = socket.create_connection((host, port), timeout=5)
            bad.append(s)
            if flavours[i % len(flavours)]:
                with contextlib.suppress(OSError):
                    s.sendall(flavours[i % len(flavours)])
            if i % 20 == 19:
                response, _ = send_and_read(
                    mesh.inbound, raw_request("GET", "/echo", [("Host", "app"), ("Connection", "close")])
                )
                assert response.status == 200
                good += 1
            assert time.monotonic() < deadline
        # All 200 bad connections are open or were dealt with; good traffic still flows.
        with RawConnection(mesh.inbound) as conn:
            for _ in range(20):
                conn.send(raw_request("GET", "/echo", [("Host", "app")]))
                assert conn.read_response().status == 200
                good += 1
    finally:
        for s in bad:
            s.close()
    assert good == 30
    assert time.monotonic() < deadline
