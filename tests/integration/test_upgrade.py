"""HTTP/1.1 Upgrade through the inbound listener: a WebSocket session end to end.

A ``websockets`` echo server (sync API, in a thread) stands behind the inbound
listener. The proxy must forward the ``Upgrade`` request with its upgrade headers,
relay the ``101 Switching Protocols`` and then carry the frames both ways as TCP.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import Server, ServerConnection, serve

from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import connect, read_response_head, recv_exactly, wait_metric

StartProxy = Callable[..., ProxyProcess]
GREETING = "welcome"


class WebSocketEcho:
    """Echo server; on ``/greet`` it first sends :data:`GREETING` (server-initiated message)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server: Server = serve(self.handle, "127.0.0.1", 0, compression=None, ping_interval=None)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server.socket.getsockname()[1]}"

    def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append((ws.request.path, {k.lower(): v for k, v in ws.request.headers.raw_items()}))
        if ws.request.path == "/greet":
            ws.send(GREETING)
        for message in ws:
            ws.send(message)


@pytest.fixture
def ws_server() -> Iterator[WebSocketEcho]:
    server = WebSocketEcho()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.thread.join(10)


def test_websocket_messages_flow_both_ways_through_the_proxy(
    start_proxy: StartProxy, ws_server: WebSocketEcho
) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=ws_server.addr)
    with ws_connect(f"ws://{proxy.inbound}/greet", proxy=None, open_timeout=10, close_timeout=5) as ws:
        assert ws.recv(timeout=10) == GREETING  # server to client, unprompted
        messages: list[str | bytes] = [
            "hello",
            "second message",
            b"\x00\x01\x02 binary",
            "ünïcödé",
            b"x" * 200_000,
            "last",
        ]
        for message in messages:
            ws.send(message)
            assert ws.recv(timeout=10) == message
        for i in range(20):  # several in flight at once
            ws.send(f"burst {i}")
        assert [ws.recv(timeout=10) for _ in range(20)] == [f"burst {i}" for i in range(20)]


def test_upgrade_request_is_forwarded_and_101_relayed(
    start_proxy: StartProxy, ws_server: WebSocketEcho
) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=ws_server.addr)
    with ws_connect(f"ws://{proxy.inbound}/chat?room=1", proxy=None, open_timeout=10, close_timeout=5) as ws:
        assert ws.response is not None
        assert ws.response.status_code == 101
        assert ws.response.headers["Upgrade"].lower() == "websocket"
        assert "upgrade" in ws.response.headers["Connection"].lower()
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"
    path, headers = ws_server.requests[0]
    assert path == "/chat?room=1"
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert headers["sec-websocket-version"] == "13"
    assert "sec-websocket-key" in headers
    assert proxy.metric("request_total", direction="inbound") == 1
    wait_metric(proxy, "response_total", 1, direction="inbound", status_code="101")


def _masked_text_frame(text: bytes) -> bytes:
    assert len(text) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))


def test_frames_sent_right_behind_the_upgrade_request_are_not_lost(
    start_proxy: StartProxy, ws_server: WebSocketEcho
) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=ws_server.addr)
    key = base64.b64encode(os.urandom(16))
    handshake = (
        b"GET /raw HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with connect(proxy.inbound) as sock:
        sock.sendall(handshake + _masked_text_frame(b"early frame"))  # one write: head and frame together
        head = read_response_head(sock)
        assert head.status == 101
        assert (head.header("upgrade") or "").lower() == "websocket"
        echoed = head.rest + recv_exactly(sock, 2 + len(b"early frame") - len(head.rest))
        assert echoed == bytes([0x81, len(b"early frame")]) + b"early frame"  # server frames are unmasked
