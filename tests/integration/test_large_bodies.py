"""1 GiB through the proxy, both ways, in bounded memory.

The proxy streams bodies with back-pressure, so a 1 GiB transfer must not grow its
memory: after each transfer the process's peak resident set (``VmHWM``) stays below
its resident set measured just before the transfer plus 20 MB. A small transfer of
the same kind runs first so lazily allocated buffers are already in the baseline.
The application side is fast (raw sockets, 1 MiB writes) so the proxy is the
bottleneck; each test takes a few seconds here, far inside pytest's timeout.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import connect, recv_to_eof
from tests.support.tcp_servers import CountingHttpServer, SinkServer, discard_exactly, read_head
from tests.support.upstream import UpstreamServer

pytestmark = pytest.mark.slow

StartProxy = Callable[..., ProxyProcess]
GIB = 1 << 30
MIB = 1 << 20
WARM_UP = 32 * MIB
MEMORY_BUDGET_KB = 20 * 1024
TRANSFER_TIMEOUT = 60.0  # per socket operation; a whole transfer takes seconds


def pieces(total: int, size: int = MIB) -> Iterator[bytes]:
    piece = b"u" * size
    for _ in range(total // size):
        yield piece


def upload(addr: str, total: int, chunked: bool) -> tuple[int, bytes]:
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TRANSFER_TIMEOUT)
    try:
        headers = {"Content-Type": "application/octet-stream"}
        if not chunked:
            headers["Content-Length"] = str(total)
        conn.request("POST", "/upload", body=pieces(total), headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def download(addr: str, total: int) -> tuple[bytes, int]:
    """GET /bytes/<total>; returns the status line and how many body bytes arrived (read and discarded)."""
    with connect(addr, timeout=TRANSFER_TIMEOUT) as sock:
        sock.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: app\r\n\r\n" % total)
        with sock.makefile("rb", buffering=MIB) as reader:
            head = read_head(reader)
            assert head is not None
            status_line, headers = head
            assert int(headers[b"content-length"]) == total
            return status_line, discard_exactly(reader, total, memoryview(bytearray(MIB)))


def assert_memory_flat(proxy: ProxyProcess, rss_before_kb: int) -> None:
    hwm_kb = proxy.hwm_kb()
    assert hwm_kb < rss_before_kb + MEMORY_BUDGET_KB, (
        f"proxy peak RSS {hwm_kb} kB grew more than {MEMORY_BUDGET_KB} kB over {rss_before_kb} kB"
    )


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_1gib_upload_streams_through_in_flat_memory(start_proxy: StartProxy, chunked: bool) -> None:
    with CountingHttpServer() as app:
        proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=app.addr, LIGHTMESH_PROXY_LOG_LEVEL="info")
        assert upload(proxy.inbound, WARM_UP, chunked) == (200, b"%d" % WARM_UP)
        rss_before_kb = proxy.rss_kb()
        assert upload(proxy.inbound, GIB, chunked) == (200, b"%d" % GIB)
        assert app.totals == [WARM_UP, GIB]
        assert_memory_flat(proxy, rss_before_kb)


def test_1gib_download_streams_through_in_flat_memory(
    start_proxy: StartProxy, upstream: UpstreamServer
) -> None:
    proxy = start_proxy(LIGHTMESH_PROXY_INBOUND_FORWARD=upstream.addr, LIGHTMESH_PROXY_LOG_LEVEL="info")
    assert download(proxy.inbound, WARM_UP) == (b"HTTP/1.1 200 OK", WARM_UP)
    rss_before_kb = proxy.rss_kb()
    status_line, received = download(proxy.inbound, GIB)
    assert status_line == b"HTTP/1.1 200 OK"
    assert received == GIB
    assert_memory_flat(proxy, rss_before_kb)


def test_1gib_opaque_tcp_stream_relays_in_flat_memory(start_proxy: StartProxy) -> None:
    with SinkServer() as sink:
        proxy = start_proxy(
            LIGHTMESH_PROXY_INBOUND_FORWARD=sink.addr,
            LIGHTMESH_PROXY_LOG_LEVEL="info",
            LIGHTMESH_PROXY_DETECT_TIMEOUT="60s",
        )
        rss_before_kb = 0
        for total in (WARM_UP, GIB):
            if total == GIB:
                rss_before_kb = proxy.rss_kb()
            with connect(proxy.inbound, timeout=TRANSFER_TIMEOUT) as sock:
                sock.sendall(b"\x00")  # not HTTP: relayed as TCP at once
                for piece in pieces(total - 1 - (total - 1) % MIB):
                    sock.sendall(piece)
                sock.sendall(b"t" * ((total - 1) % MIB))
                sock.shutdown(socket.SHUT_WR)
                assert recv_to_eof(sock, timeout=TRANSFER_TIMEOUT) == b"%d" % total
        assert sink.totals == [WARM_UP, GIB]
        assert_memory_flat(proxy, rss_before_kb)
