"""Listening sockets: bound from literal addresses, with a clear error when the port is taken."""

from __future__ import annotations

import socket

import pytest

from lightmesh.core.addr import SocketAddr
from lightmesh.io.server import listen_socket


def test_a_literal_address_gets_a_non_blocking_listening_socket_that_reuses_the_address() -> None:
    sock = listen_socket(SocketAddr("127.0.0.1", 0), 16)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert not sock.getblocking()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    finally:
        sock.close()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_an_ipv6_address_listens_on_ipv6_only() -> None:
    try:
        sock = listen_socket(SocketAddr("::1", 0), 16)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    finally:
        sock.close()


def test_a_port_in_use_is_named_in_the_error() -> None:
    taken = listen_socket(SocketAddr("127.0.0.1", 0), 16)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}: address already in use"):
            listen_socket(SocketAddr("127.0.0.1", port), 16)
    finally:
        taken.close()
