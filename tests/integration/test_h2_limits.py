"""HTTP/2 abuse limits, with Envoy's defaults.

The proxy advertises MAX_CONCURRENT_STREAMS 100 and INITIAL_WINDOW_SIZE 65535, and opens
a 1 MiB connection window. A connection that breaks a limit gets GOAWAY with a non-zero
error code (ENHANCE_YOUR_CALM for floods) and is closed:

* a 101st concurrent stream (or REFUSED_STREAM on that stream alone);
* a request head over 60 KiB or with more than 100 fields (or the stream is refused, or
  answered 431) - never forwarded;
* more than 1 consecutive empty DATA frame without END_STREAM;
* more than 100 PRIORITY frames per stream opened, plus 100;
* more than 1000 control frames (PING answers) queued for a client that does not read;
* rapid reset: over 100 streams, more than half reset before their response;
* more than 10 WINDOW_UPDATE frames per DATA frame sent, plus a small allowance.

Every test keeps a well-behaved connection (``bystander``), opened beforehand, and checks
it still gets answers afterwards. The violating clients speak raw frames
(:class:`~tests.support.h2_peers.H2Client`), since a real HTTP/2 stack refuses to send
most of these sequences. All run against the inbound listener, which faces the mesh.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.h1_peers import start_isolated
from tests.support.h2_peers import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    ConnectionEnd,
    H2Client,
    H2Upstream,
)
from tests.support.proxy import ProxyProcess

AUTHORITY = "app.example:8080"
TIMEOUT = 5.0


@pytest.fixture
def h2_app() -> Iterator[H2Upstream]:
    # Generous limits of its own, so every limit met in these tests is the proxy's.
    with H2Upstream("app", max_concurrent_streams=1000, max_header_list_size=1 << 20) as server:
        yield server


@pytest.fixture
def mesh(request: pytest.FixtureRequest, h2_app: H2Upstream) -> ProxyProcess:
    return start_isolated(
        request,
        LIGHTMESH_PROXY_INBOUND_FORWARD=h2_app.addr,
        LIGHTMESH_PROXY_STATIC_DESTINATIONS=f"svc:80={h2_app.addr}",
    )


@pytest.fixture
def bystander(mesh: ProxyProcess) -> Iterator[H2Client]:
    """A well-behaved connection, opened and used before the abuse starts."""
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        response = c.get("/echo?bystander=before", AUTHORITY)
        assert response.status == 200, response.describe()
        yield c


def assert_still_served(bystander: H2Client) -> None:
    response = bystander.get("/echo?bystander=after", AUTHORITY, timeout=TIMEOUT)
    assert response.status == 200, f"the well-behaved connection was disturbed: {response.describe()}"


def assert_goaway_and_closed(client: H2Client, code: int | None, timeout: float = TIMEOUT) -> ConnectionEnd:
    """The connection gets GOAWAY (with ``code``, or any non-zero code) and is closed."""
    end = client.ending(timeout)
    assert end.goaways, (
        "closed without GOAWAY" if end.closed else f"no GOAWAY and still open after {timeout}s"
    )
    if code is None:
        assert any(c != 0 for c in end.error_codes), end.goaways
    else:
        assert code in end.error_codes, end.goaways
    assert end.closed, f"the connection stayed open {timeout}s after GOAWAY"
    return end


def upstream_saw(h2_app: H2Upstream, marker: str) -> int:
    return sum(1 for s in h2_app.streams if marker in s.path)


# -- advertised settings ----------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_proxy_advertises_100_streams_64k_stream_windows_and_a_1mib_connection_window(
    mesh: ProxyProcess, direction: str
) -> None:
    with H2Client(mesh.inbound if direction == "inbound" else mesh.outbound, timeout=TIMEOUT) as c:
        assert c.peer_settings.get(MAX_CONCURRENT_STREAMS) == 100, c.peer_settings
        assert c.peer_settings.get(INITIAL_WINDOW_SIZE, 65535) == 65535, c.peer_settings
        # The connection window starts at 65535 and a WINDOW_UPDATE on stream 0 raises it.
        c.wait(lambda: c.send_window >= 1 << 20, 2.0, what="the connection window to reach 1 MiB")
        assert c.send_window == 1 << 20, c.window_updates
        assert [inc for sid, inc in c.window_updates if sid == 0] == [(1 << 20) - 65535]


# -- concurrent streams -------------------------------------------------------------------------


def test_a_101st_concurrent_stream_is_refused_without_disturbing_the_others(
    mesh: ProxyProcess, h2_app: H2Upstream, bystander: H2Client
) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:  # the proxy's SETTINGS are acknowledged by now
        opened = [c.open_stream("GET", "/sleep/1500?concurrent", AUTHORITY) for _ in range(101)]
        c.send_raw(b"".join(frames for _, frames in opened))
        sids = [sid for sid, _ in opened]
        c.wait(
            lambda: bool(c.goaways) or c.closed or all(c.streams[s].done for s in sids),
            10,
            what="all streams to finish, or GOAWAY",
        )
        if c.goaways or c.closed:
            assert_goaway_and_closed(c, PROTOCOL_ERROR)
        else:
            refused = [s for s in sids if c.streams[s].reset_code is not None]
            assert refused == [sids[-1]], [c.streams[s].describe() for s in refused]
            assert c.streams[sids[-1]].reset_code == REFUSED_STREAM
            assert all(c.streams[s].status == 200 for s in sids[:-1]), "the first 100 streams are served"
            assert upstream_saw(h2_app, "concurrent") == 100
    assert_still_served(bystander)


# -- request heads --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [("x-big", "a" * (62 * 1024))],  # one field, the list over 60 KiB
        [(f"x-field-{i}", "v") for i in range(101)],  # over 100 fields (pseudo-headers aside)
    ],
    ids=["over-60KiB", "over-100-fields"],
)
def test_request_head_over_the_limits_is_refused_before_the_upstream(
    mesh: ProxyProcess, h2_app: H2Upstream, bystander: H2Client, headers: list[tuple[str, str]]
) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        sid = c.request("GET", "/echo?oversized", AUTHORITY, headers=headers)
        stream = c.streams[sid]
        c.wait(lambda: stream.done or bool(c.goaways) or c.closed, TIMEOUT, what="a refusal")
        refused = stream.reset_code is not None or bool(c.goaways) or c.closed or stream.status == 431
        assert refused, f"expected RST_STREAM, GOAWAY or 431; got {stream.describe()}"
        if c.goaways:
            assert_goaway_and_closed(c, None)
    assert_still_served(bystander)  # also a round trip through the upstream: nothing is still on its way
    assert upstream_saw(h2_app, "oversized") == 0


def test_request_heads_within_the_limits_are_forwarded(mesh: ProxyProcess, h2_app: H2Upstream) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        big = c.get("/echo?big", AUTHORITY, headers=[("x-big", "b" * (40 * 1024))])
        assert big.status == 200, big.describe()
        many = c.get("/echo?many", AUTHORITY, headers=[(f"x-field-{i}", "v") for i in range(90)])
        assert many.status == 200, many.describe()
    assert upstream_saw(h2_app, "big") == 1
    assert upstream_saw(h2_app, "many") == 1


# -- empty DATA frames ------------------------------------------------------------------------


def test_consecutive_empty_data_frames_get_goaway_enhance_your_calm(
    mesh: ProxyProcess, bystander: H2Client
) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        sid, head = c.open_stream("POST", "/echo?empty", AUTHORITY, end_stream=False)
        c.send_raw(head + c.frame_data(sid, b"") + c.frame_data(sid, b""))  # 2 in a row: more than 1
        assert_goaway_and_closed(c, ENHANCE_YOUR_CALM)
    assert_still_served(bystander)


def test_single_empty_data_frames_between_data_are_allowed(mesh: ProxyProcess) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        sid, head = c.open_stream("POST", "/echo?single-empty", AUTHORITY, end_stream=False)
        frames = [
            c.frame_data(sid, b""),
            c.frame_data(sid, b"ab"),
            c.frame_data(sid, b""),
            c.frame_data(sid, b"cd"),
            c.frame_data(sid, b"", end_stream=True),  # an empty frame that ends the stream is normal
        ]
        c.send_raw(head + b"".join(frames))
        response = c.response(sid)
        assert response.status == 200, response.describe()
        assert response.json()["body_length"] == 4
        assert not c.goaways


# -- PRIORITY frames ------------------------------------------------------------------------


def test_priority_flood_gets_goaway_enhance_your_calm(mesh: ProxyProcess, bystander: H2Client) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        sid, head = c.open_stream("GET", "/echo?priority", AUTHORITY)
        # One stream opened: 100 x (1 + 1) = 200 PRIORITY frames are allowed; send 1000.
        c.send_raw(head + c.frame_priority(sid) * 1000)
        assert_goaway_and_closed(c, ENHANCE_YOUR_CALM)
    assert_still_served(bystander)


def test_priority_frames_within_the_allowance_are_accepted(mesh: ProxyProcess) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        c.send_raw(c.frame_priority(1) * 100)  # no stream opened yet: 100 x (1 + 0) = 100 allowed
        response = c.get("/echo?after-priority", AUTHORITY)
        assert response.status == 200, response.describe()
        assert not c.goaways


# -- control frame flood ----------------------------------------------------------------------


@pytest.mark.slow
def test_ping_flood_from_a_client_that_never_reads_closes_its_connection(
    mesh: ProxyProcess, bystander: H2Client
) -> None:
    # A tiny receive buffer: the PING answers back up into the proxy, which must give up
    # on the connection once more than 1000 control frames wait unsent.
    with H2Client(mesh.inbound, timeout=TIMEOUT, rcvbuf=4096) as c:
        sent, closed = c.flood(c.frame_ping(b"flooding"), count=300_000, timeout=20)
        if not closed:  # the proxy may still be working through the PINGs: wait, still without reading
            closed = c.wait_closed_unread(timeout=15)
        if not closed:  # a close that waits for its queued bytes to go out shows only once they are read
            closed = c.ending(timeout=TIMEOUT).closed
        assert closed, f"the connection survived {sent} PINGs it never read answers to"
    assert_still_served(bystander)


# -- rapid reset ------------------------------------------------------------------------------


def test_rapid_reset_gets_goaway_enhance_your_calm_and_spares_the_upstream(
    mesh: ProxyProcess, h2_app: H2Upstream, bystander: H2Client
) -> None:
    opened = 1000
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        burst = bytearray()
        for _ in range(opened):  # each stream: HEADERS, then RST_STREAM(CANCEL) right away
            sid, head = c.open_stream("GET", "/never?rapid", AUTHORITY)
            burst += head + c.frame_rst(sid, CANCEL)
        c.send_raw(bytes(burst))  # about 20 KiB: one write, all of it in the proxy's socket at once
        assert_goaway_and_closed(c, ENHANCE_YOUR_CALM)
    assert_still_served(bystander)  # a round trip through the upstream: what was forwarded has arrived
    forwarded = upstream_saw(h2_app, "rapid")
    assert forwarded <= opened // 4, (
        f"{forwarded} of {opened} streams reset at once still reached the upstream"
    )


# -- WINDOW_UPDATE flood ----------------------------------------------------------------------


def test_window_update_flood_gets_goaway_enhance_your_calm(mesh: ProxyProcess, bystander: H2Client) -> None:
    with H2Client(mesh.inbound, timeout=TIMEOUT) as c:
        # No DATA frame sent by the proxy yet: only the small allowance is available.
        c.send_raw(c.frame_window_update(0, 1) * 1000)
        assert_goaway_and_closed(c, ENHANCE_YOUR_CALM)
    assert_still_served(bystander)
