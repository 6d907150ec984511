"""The opaque transport header: round trip, incremental parsing, garbage refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.protocol.transport import BadTransportHeader, encode_header, parse_header


@given(st.integers(1, 65535), st.binary(max_size=64))
def test_a_header_round_trips_and_keeps_the_bytes_after_it(port: int, rest: bytes) -> None:
    assert parse_header(encode_header(port) + rest) == (port, rest)


@given(st.integers(1, 65535))
def test_every_prefix_of_a_header_asks_for_more(port: int) -> None:
    header = encode_header(port)
    for cut in range(len(header)):
        assert parse_header(header[:cut]) is None


@given(st.binary(max_size=32))
def test_any_bytes_are_a_header_more_to_come_or_refused_never_an_exception_of_another_kind(
    data: bytes,
) -> None:
    try:
        parsed = parse_header(data)
    except BadTransportHeader:
        return
    if parsed is not None:
        port, rest = parsed
        assert 1 <= port <= 65535 and encode_header(port) + rest == data


@pytest.mark.parametrize(
    "data", [b"GET / HTTP/1.1\r\n", b"LMT1 0\n", b"LMT1 65536\n", b"LMT1 99999\n", b"LMT1 12a", b"LMT2 80\n",
             b"LMT1 123456", b"LMT1 \n"],
)  # fmt: skip
def test_garbage_and_out_of_range_ports_are_refused(data: bytes) -> None:
    with pytest.raises(BadTransportHeader):
        parse_header(data)


def test_ports_outside_the_range_cannot_be_encoded() -> None:
    for port in (0, 65536):
        with pytest.raises(ValueError):
            encode_header(port)
