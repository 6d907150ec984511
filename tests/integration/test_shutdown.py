"""Graceful shutdown on SIGTERM and SIGINT.

On the signal the proxy stops accepting, lets requests in flight finish, closes
idle keep-alive connections at once and exits 0, all within
``LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD``; work still running when the grace period
ends is cut so the process exits anyway.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import (
    connect,
    http_request,
    is_refused,
    read_response_head,
    recv_exactly,
    recv_to_eof,
    wait_until,
)
from tests.support.tcp_servers import EchoServer
from tests.support.upstream import UpstreamServer

StartProxy = Callable[..., ProxyProcess]
SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


def send_request(addr: str, path: str) -> socket.socket:
    sock = connect(addr, timeout=20)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: app\r\n\r\n".encode())
    return sock


def exit_code(proxy: ProxyProcess, timeout: float) -> int:
    assert proxy.proc is not None
    try:
        return proxy.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proxy.proc.kill()  # by PID: this test's own proxy process
        _, stderr = proxy.stop()
        raise AssertionError(
            f"the proxy was still running {timeout}s after the signal; log:\n{stderr[-4000:]}"
        ) from None


def signal_proxy(proxy: ProxyProcess, sig: signal.Signals) -> None:
    assert proxy.proc is not None
    proxy.proc.send_signal(sig)


@SIGNALS
def test_request_in_flight_completes_after_the_signal(
    start_proxy: StartProxy, upstream: UpstreamServer, sig: signal.Signals
) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s"
    )
    with send_request(proxy.inbound, "/sleep/1500") as sock:
        wait_until(lambda: upstream.requests >= 1, what="the request to reach the application")
        signal_proxy(proxy, sig)
        response = recv_to_eof(sock, timeout=20)  # the proxy closes after the response: draining
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:200]
    assert body == b"slept\n"
    assert exit_code(proxy, timeout=20) == 0
    _, stderr = proxy.stop()
    assert "Traceback" not in stderr


@SIGNALS
def test_new_connections_are_refused_while_draining(
    start_proxy: StartProxy, upstream: UpstreamServer, sig: signal.Signals
) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s"
    )
    with send_request(proxy.inbound, "/sleep/6000") as sock:  # keeps the proxy draining for seconds
        wait_until(lambda: upstream.requests >= 1, what="the request to reach the application")
        signal_proxy(proxy, sig)
        wait_until(lambda: is_refused(proxy.inbound), timeout=5, what="the inbound listener to refuse")
        assert is_refused(proxy.outbound)
        assert proxy.proc is not None and proxy.proc.poll() is None  # refused by a live, draining proxy
        assert http_request(proxy.admin, "GET", "/ready").status == 503  # not ready while draining
        assert recv_to_eof(sock, timeout=20).startswith(b"HTTP/1.1 200")
    assert exit_code(proxy, timeout=20) == 0


@SIGNALS
def test_idle_keep_alive_connection_is_closed_promptly(
    start_proxy: StartProxy, upstream: UpstreamServer, sig: signal.Signals
) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s"
    )
    with send_request(proxy.inbound, "/echo") as sock:
        head = read_response_head(sock)
        assert head.status == 200
        assert (head.header("connection") or "").lower() != "close"
        body = head.rest + recv_exactly(sock, int(head.header("content-length") or 0) - len(head.rest))
        assert json.loads(body)["path"] == "/echo"
        # The connection is now idle and kept alive; the signal must close it, not wait 30 s for it.
        signal_proxy(proxy, sig)
        assert recv_to_eof(sock, timeout=10) == b""  # long before the 30 s grace or 60 s idle timeout
    assert exit_code(proxy, timeout=10) == 0


def test_process_exits_0_within_the_grace_period_after_work_finishes(
    start_proxy: StartProxy, upstream: UpstreamServer
) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="20s"
    )
    with send_request(proxy.inbound, "/sleep/1000") as sock:
        wait_until(lambda: upstream.requests >= 1, what="the request to reach the application")
        signal_proxy(proxy, signal.SIGTERM)
        started = time.monotonic()
        assert recv_to_eof(sock, timeout=15).startswith(b"HTTP/1.1 200")
    assert exit_code(proxy, timeout=15) == 0
    assert time.monotonic() - started < 15  # far inside the 20 s grace period: it did not wait it out


def test_tcp_relay_in_progress_finishes_before_exit(start_proxy: StartProxy) -> None:
    with EchoServer() as echo:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=echo.addr,
            LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="30s",
            LIGHTMESH_PROXY_DETECT_TIMEOUT="60s",
        )
        with connect(proxy.inbound) as sock:
            sock.sendall(b"\x00before")
            assert recv_exactly(sock, 7) == b"\x00before"
            signal_proxy(proxy, signal.SIGTERM)
            wait_until(lambda: is_refused(proxy.inbound), timeout=5, what="the inbound listener to refuse")
            sock.sendall(b"\x00during")  # the relay keeps working while the proxy drains
            assert recv_exactly(sock, 7) == b"\x00during"
            assert proxy.proc is not None and proxy.proc.poll() is None
            sock.shutdown(socket.SHUT_WR)
            assert recv_to_eof(sock) == b""
        assert exit_code(proxy, timeout=10) == 0


def test_grace_period_cuts_a_long_request_and_the_process_still_exits(
    start_proxy: StartProxy, upstream: UpstreamServer
) -> None:
    proxy = start_proxy(
        LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD="1s"
    )
    with send_request(proxy.inbound, "/sleep/5000") as sock:
        wait_until(lambda: upstream.requests >= 1, what="the request to reach the application")
        signal_proxy(proxy, signal.SIGTERM)
        started = time.monotonic()
        # Well before the application would answer (5 s after the request began).
        assert exit_code(proxy, timeout=4) == 0
        assert time.monotonic() - started < 4
        try:
            answer = recv_to_eof(sock, timeout=5)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]  # the request was cut, not completed
    _, stderr = proxy.stop()
    assert "Traceback" not in stderr  # cut cleanly, not by a crash
