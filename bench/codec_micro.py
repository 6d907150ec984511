"""HTTP/2 codec cost without I/O: the ``h2`` library against lightmesh's own codec.

One "exchange" is what a proxy's codecs do per proxied request: a client side
sends a request head, a server side decodes it and answers with a head and a
12-byte body, the client decodes that and hands the window back. Both codecs
run the same exchange in memory, side by side, so the ratio says how much of a
request's CPU budget the codec alone takes::

    python bench/codec_micro.py [--requests N]

Prints microseconds per exchange for each codec and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import h2.config
import h2.connection

from lightmesh.protocol import h2frames as fr
from lightmesh.protocol.h2codec import H2Codec

REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8080"),
    (b":path", b"/index.html"),
    (b"user-agent", b"h2load nghttp2/1.52.0"),
    (b"accept", b"*/*"),
]
RESPONSE = [(b":status", b"200"), (b"server", b"bench"), (b"content-length", b"12")]
BODY = b"hello world\n"


def _h2(client: bool) -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(
        client_side=client,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        normalize_inbound_headers=False,
    )
    return h2.connection.H2Connection(config)


def run_h2(n: int) -> float:
    client, server = _h2(True), _h2(False)
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    start = time.perf_counter()
    for _ in range(n):
        sid = client.get_next_available_stream_id()
        client.send_headers(sid, REQUEST, end_stream=True)
        server.receive_data(client.data_to_send())
        server.send_headers(sid, RESPONSE)
        server.send_data(sid, BODY, end_stream=True)
        client.receive_data(server.data_to_send())
        client.acknowledge_received_data(len(BODY), sid)
        server.receive_data(client.data_to_send())
    return (time.perf_counter() - start) / n


class _Sink:
    """A handler that only remembers the last stream it heard about."""

    def __init__(self) -> None:
        self.last = 0

    def on_headers(self, stream_id: int, headers: object, end_stream: bool) -> None:
        self.last = stream_id

    def on_data(self, stream_id: int, data: bytes, flow_length: int, end_stream: bool) -> None:
        self.last = stream_id

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


def run_codec(n: int) -> float:
    server_sink, client_sink = _Sink(), _Sink()
    settings = {fr.MAX_CONCURRENT_STREAMS: 100, fr.INITIAL_WINDOW_SIZE: 65_535}
    client = H2Codec(client_sink, True, {fr.ENABLE_PUSH: 0}, 1 << 20)
    server = H2Codec(server_sink, False, settings, 1 << 20)
    client.initiate()
    server.initiate()
    server.feed(client.take())
    client.feed(server.take())
    server.feed(client.take())
    client.take()
    start = time.perf_counter()
    for _ in range(n):
        sid = client.new_stream()
        client.send_headers(sid, REQUEST, end_stream=True)
        server.feed(client.take())
        server.send_headers(sid, RESPONSE)
        server.send_data(sid, BODY, end_stream=True)
        client.feed(server.take())
        client.ack(sid, len(BODY))
        server.feed(client.take())
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    h2_us = run_h2(args.requests) * 1e6
    codec_us = run_codec(args.requests) * 1e6
    print(f"h2 library:        {h2_us:7.1f} µs per exchange")
    print(f"lightmesh h2codec: {codec_us:7.1f} µs per exchange")
    print(f"ratio h2 / h2codec: {h2_us / codec_us:.1f}x")


if __name__ == "__main__":
    main()
