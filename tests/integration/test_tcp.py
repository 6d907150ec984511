"""Opaque TCP through the inbound listener: relay both ways, half-close, counters, opaque ports.

The inbound listener forwards every connection that is not HTTP/1 to
``LIGHTMESH_PROXY_INBOUND_FORWARD`` as raw bytes. Client data here starts with a
NUL byte so detection decides "opaque" at once; ``LIGHTMESH_PROXY_DETECT_TIMEOUT``
is set far above the client's read timeout wherever an answer arriving proves that
no detection wait was involved.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable

import pytest

from tests.support.proxy import ProxyProcess, free_port
from tests.support.tcp_client import connect, recv_exactly, recv_to_eof, wait_metric
from tests.support.tcp_servers import CollectServer, EchoServer, describe

StartProxy = Callable[..., ProxyProcess]
NO_DETECT_WAIT = "60s"  # longer than any client timeout below


def start_opaque_inbound(start_proxy: StartProxy, forward: str, **env: str) -> ProxyProcess:
    """A proxy whose inbound listener port is on the opaque list (no iptables: the listener port counts)."""
    port = free_port()
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=forward,
        LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR=f"127.0.0.1:{port}",
        LIGHTMESH_PROXY_OPAQUE_PORTS=str(port),
        **env,
    )
    proxy.inbound_port = port
    return proxy


def test_opaque_relay_carries_messages_both_ways(start_proxy: StartProxy) -> None:
    with EchoServer() as echo:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=echo.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            for i in range(5):
                message = b"\x00message %d " % i + bytes(range(256)) * (i + 1)
                sock.sendall(message)
                assert recv_exactly(sock, len(message)) == message
        assert echo.received[0].startswith(b"\x00message 0 ")


def test_opaque_relay_streams_megabytes_both_ways_at_once(start_proxy: StartProxy) -> None:
    payload = b"\x00" + hashlib.sha256(b"seed").digest() * (8 * 1024 * 1024 // 32)  # ~8 MiB
    with EchoServer() as echo:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=echo.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound, timeout=30) as sock:
            failures: list[BaseException] = []

            def send() -> None:
                try:
                    sock.sendall(payload)
                except BaseException as exc:
                    failures.append(exc)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()  # the echo comes back while we are still sending: back-pressure both ways
            echoed = recv_exactly(sock, len(payload), timeout=30)
            sender.join(30)
        assert not failures
        assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("opaque_port", [False, True], ids=["detected", "opaque-port"])
def test_half_closed_client_still_reads_the_servers_reply(start_proxy: StartProxy, opaque_port: bool) -> None:
    data = b"\x00half-close request " * 100
    with CollectServer() as server:
        if opaque_port:
            proxy = start_opaque_inbound(
                start_proxy, server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
            )
        else:
            proxy = start_proxy(
                LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
            )
        with connect(proxy.inbound) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # the server only answers after our EOF
            reply = recv_to_eof(sock)
        assert reply == describe(data)
        assert bytes(server.received[0]) == data


def test_relay_counts_bytes_connections_and_durations_per_peer(start_proxy: StartProxy) -> None:
    data = b"\x00" + b"m" * 999
    with CollectServer() as server:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            reply = recv_to_eof(sock)
        assert reply == describe(data)

        for peer in ("src", "dst"):
            wait_metric(proxy, "tcp_close_total", 1, direction="inbound", peer=peer)
        src = {"direction": "inbound", "peer": "src"}
        dst = {"direction": "inbound", "peer": "dst"}
        # src is the client's socket: it read the request and wrote the reply; dst the reverse.
        assert proxy.metric("tcp_read_bytes_total", **src) == len(data)
        assert proxy.metric("tcp_write_bytes_total", **src) == len(reply)
        assert proxy.metric("tcp_read_bytes_total", **dst) == len(reply)
        assert proxy.metric("tcp_write_bytes_total", **dst) == len(data)
        for labels in (src, dst):
            assert proxy.metric("tcp_open_total", **labels) == 1
            assert proxy.metric("tcp_close_total", classification="success", **labels) == 1
            assert proxy.metric("tcp_open_connections", **labels) == 0
            assert proxy.metric("tcp_connection_duration_ms_count", **labels) == 1
            assert proxy.metric("tcp_connection_duration_ms_bucket", le="+Inf", **labels) == 1


def test_server_speaks_first_protocol_works_on_an_opaque_port(start_proxy: StartProxy) -> None:
    banner = b"220 mail.example ESMTP ready\r\n"
    with EchoServer(banner=banner) as server:
        # Detection would wait a minute for client bytes; the opaque port must skip it.
        proxy = start_opaque_inbound(start_proxy, server.addr, LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT)
        with connect(proxy.inbound) as sock:
            assert recv_exactly(sock, len(banner)) == banner
            sock.sendall(b"EHLO client.example\r\n")
            assert recv_exactly(sock, 21) == b"EHLO client.example\r\n"  # the echo of what we sent


def test_opaque_port_keeps_bytes_the_client_sends_right_after_connecting(start_proxy: StartProxy) -> None:
    # Many clients write as soon as connect() returns; none of those first bytes may be lost.
    with EchoServer() as server:
        proxy = start_opaque_inbound(start_proxy, server.addr)
        for i in range(20):
            message = b"\x00connection %d\n" % i
            with connect(proxy.inbound) as sock:
                sock.sendall(message)
                assert recv_exactly(sock, len(message), timeout=5) == message, f"connection {i}"


def test_opaque_port_relays_even_http_looking_bytes_untouched(start_proxy: StartProxy) -> None:
    request = b"GET /not-parsed HTTP/1.1\r\nHost: x\r\n\r\n"
    with EchoServer() as server:
        proxy = start_opaque_inbound(start_proxy, server.addr)
        with connect(proxy.inbound) as sock:
            sock.sendall(request)
            assert recv_exactly(sock, len(request)) == request  # echoed, not answered by an HTTP server
        assert bytes(server.received[0]) == request
    assert proxy.metric("request_total", direction="inbound") == 0


def test_unreachable_tcp_target_closes_the_client_connection(start_proxy: StartProxy) -> None:
    closed_port = free_port()
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=f"127.0.0.1:{closed_port}",
        LIGHTMESH_PROXY_DETECT_TIMEOUT=NO_DETECT_WAIT,
    )
    with connect(proxy.inbound) as sock:
        sock.sendall(b"\x00hello")
        assert recv_to_eof(sock) == b""
    wait_metric(proxy, "tcp_close_total", 1, direction="inbound", peer="src", classification="failure")
