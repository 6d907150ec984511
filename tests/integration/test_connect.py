"""HTTP CONNECT on the outbound listener: a 200, then a raw byte tunnel to the target.

An application using the proxy as an HTTP proxy asks ``CONNECT host:port``; once the
proxy answers ``200`` the connection carries any protocol. A target that refuses the
connection is answered with ``502`` and a ``lightmesh-proxy-error`` header saying why.
"""

from __future__ import annotations

import socket

from tests.support.proxy import ProxyProcess, free_port
from tests.support.tcp_client import connect, read_response_head, recv_exactly, recv_to_eof
from tests.support.tcp_servers import CollectServer, EchoServer, describe


def connect_request(target: str) -> bytes:
    return f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()


def test_connect_answers_200_and_tunnels_raw_bytes_both_ways(proxy: ProxyProcess) -> None:
    with EchoServer() as echo, connect(proxy.outbound) as sock:
        sock.sendall(connect_request(echo.addr))
        head = read_response_head(sock)
        assert head.status == 200
        assert head.rest == b""  # nothing may follow the 200 before the target speaks
        for message in (b"\x00raw protocol\n", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 64):
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message
    assert echo.accepted == 1


def test_connect_tunnel_passes_a_half_close_to_the_target(proxy: ProxyProcess) -> None:
    with CollectServer() as server, connect(proxy.outbound) as sock:
        sock.sendall(connect_request(server.addr))
        assert read_response_head(sock).status == 200
        sock.sendall(b"all of the request")
        sock.shutdown(socket.SHUT_WR)
        assert recv_to_eof(sock) == describe(b"all of the request")


def test_bytes_sent_right_behind_the_connect_request_reach_the_target(proxy: ProxyProcess) -> None:
    with EchoServer() as echo, connect(proxy.outbound) as sock:
        sock.sendall(connect_request(echo.addr) + b"\x00early bytes")  # one write, no wait for the 200
        head = read_response_head(sock)
        assert head.status == 200
        assert head.rest + recv_exactly(sock, 12 - len(head.rest)) == b"\x00early bytes"


def test_connect_to_a_closed_port_answers_502_with_the_reason(proxy: ProxyProcess) -> None:
    closed = f"127.0.0.1:{free_port()}"
    with connect(proxy.outbound) as sock:
        sock.sendall(connect_request(closed))
        head = read_response_head(sock)
    assert head.status == 502
    reason = head.header("lightmesh-proxy-error")
    assert reason is not None
    assert closed in reason
    assert "refused" in reason.lower()
