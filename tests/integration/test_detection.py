"""Protocol detection on the inbound listener: what is not HTTP/1 is relayed as TCP, untouched.

Where a test proves that detection decided at once, ``LIGHTMESH_PROXY_DETECT_TIMEOUT``
is a minute while the client gives up after ten seconds: an answer can then only
come from an immediate decision, never from the timeout.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import connect, recv_exactly, recv_to_eof, wait_metric
from tests.support.tcp_servers import CollectServer, EchoServer, describe
from tests.support.tcp_tls import self_signed
from tests.support.upstream import UpstreamServer

StartProxy = Callable[..., ProxyProcess]
NO_DETECT_WAIT = "60s"

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, flags 0, stream 0


def test_binary_client_first_bytes_are_relayed_as_opaque_at_once(start_proxy: StartProxy) -> None:
    with EchoServer() as echo:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=echo.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(b"\x00\x01binary")
            assert recv_exactly(sock, 8) == b"\x00\x01binary"
            sock.sendall(b"\xff\xfe more")
            assert recv_exactly(sock, 7) == b"\xff\xfe more"
        assert bytes(echo.received[0]) == b"\x00\x01binary\xff\xfe more"
    assert proxy.metric("request_total", direction="inbound") == 0


def test_text_line_that_is_not_a_request_line_is_relayed_as_opaque(start_proxy: StartProxy) -> None:
    with EchoServer() as echo:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=echo.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(b"HELLO there, not http\r\n")
            assert recv_exactly(sock, 23) == b"HELLO there, not http\r\n"


def test_half_close_before_detection_decides_relays_what_was_sent(start_proxy: StartProxy) -> None:
    # "hello" could still become a request line; the client's EOF ends detection as opaque.
    with CollectServer() as server:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(b"hello")
            sock.shutdown(socket.SHUT_WR)
            assert recv_to_eof(sock) == describe(b"hello")


def test_server_speaks_first_protocol_works_after_detection_times_out(start_proxy: StartProxy) -> None:
    banner = b"5.7.42-MySQL-like greeting\n"
    with EchoServer(banner=banner) as server:
        proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT="1s")
        with connect(proxy.inbound) as sock:
            # The client waits for the greeting; after ~1 s the proxy gives up detecting and relays.
            assert recv_exactly(sock, len(banner), timeout=15) == banner
            sock.sendall(b"login root\n")
            assert recv_exactly(sock, 11) == b"login root\n"
        assert bytes(server.received[0]) == b"login root\n"


def test_tls_client_hello_is_relayed_and_the_handshake_completes(
    start_proxy: StartProxy, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path)
    with EchoServer(tls=cert.server_context()) as server:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        client = cert.client_context()
        with connect(proxy.inbound) as raw, client.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() is not None  # the handshake went through the proxy both ways
            assert tls.getpeercert()["subject"] == ((("commonName", "localhost"),),)
            for message in (b"ping over tls", b"GET / HTTP/1.1\r\nHost: inside-tls\r\n\r\n"):
                tls.sendall(message)
                assert recv_exactly(tls, len(message)) == message
    assert proxy.metric("request_total", direction="inbound") == 0  # nothing was parsed as HTTP


def _read_frame_header(sock: socket.socket) -> tuple[int, int, int, int]:
    head = recv_exactly(sock, 9)
    return int.from_bytes(head[:3], "big"), head[3], head[4], int.from_bytes(head[5:], "big") & 0x7FFFFFFF


def test_http2_prior_knowledge_is_terminated_by_the_proxy_not_relayed(start_proxy: StartProxy) -> None:
    with EchoServer() as server:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            length, kind, flags, stream = _read_frame_header(sock)
            assert (kind, flags, stream) == (0x4, 0, 0)  # the proxy's own SETTINGS, not an echo
            recv_exactly(sock, length)
        assert server.received == []  # no request was made, so nothing went upstream
    assert proxy.metric("request_total", direction="inbound") == 0


def test_http2_preface_sent_in_pieces_is_still_detected(start_proxy: StartProxy) -> None:
    # "PRI * HTTP/2.0" looks like the start of a request line until the preface is complete.
    with EchoServer() as server:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (H2_PREFACE[:3], H2_PREFACE[3:16], H2_PREFACE[16:], H2_EMPTY_SETTINGS):
                sock.sendall(piece)
                time.sleep(0.05)  # let each piece arrive on its own (correctness does not depend on it)
            _, kind, _, stream = _read_frame_header(sock)
            assert (kind, stream) == (0x4, 0)
        assert server.received == []


def test_http1_requests_are_still_detected_and_served_as_http(
    proxy: ProxyProcess, upstream: UpstreamServer
) -> None:
    with connect(proxy.inbound) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        response = recv_to_eof(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["path"] == "/echo"
    wait_metric(proxy, "response_total", 1, direction="inbound", status_code="200")
