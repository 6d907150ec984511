"""ClientHello parsing: real hellos from OpenSSL, hand-built ones, any split, and garbage."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.protocol.tlshello import ClientHello, NotClientHello, parse_client_hello

NAME = "web.default.serviceaccount.identity.lightmesh.cluster.local"


def openssl_hello(server_name: str | None, alpn: list[str] | None = None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def vec(size: int, data: bytes) -> bytes:
    return len(data).to_bytes(size, "big") + data


def build(extensions: bytes, record_size: int = 16384) -> bytes:
    body = b"\x03\x03" + b"r" * 32 + vec(1, b"") + vec(2, b"\x13\x01") + vec(1, b"\x00") + vec(2, extensions)
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    records = b""
    for i in range(0, len(message), record_size):
        records += b"\x16\x03\x01" + vec(2, message[i : i + record_size])
    return records


def sni(name: bytes) -> bytes:
    return b"\x00\x00" + vec(2, vec(2, b"\x00" + vec(2, name)))


def test_openssl_client_hello_gives_sni_and_alpn() -> None:
    hello = parse_client_hello(openssl_hello(NAME, ["h2", "http/1.1"]))
    assert hello == ClientHello(NAME, (b"h2", b"http/1.1"))


def test_no_sni_is_none() -> None:
    hello = parse_client_hello(openssl_hello(None))
    assert hello is not None
    assert hello.server_name is None


@given(st.integers(min_value=0, max_value=2000))
def test_every_prefix_asks_for_more_and_the_whole_answers(cut: int) -> None:
    data = openssl_hello(NAME, ["h2"]) + b"trailing bytes are ignored"
    hello_length = len(openssl_hello(NAME, ["h2"]))
    prefix = data[: min(cut, hello_length - 1)]
    assert parse_client_hello(prefix) is None
    assert parse_client_hello(data) == ClientHello(NAME, (b"h2",))


@given(st.integers(min_value=1, max_value=64))
def test_a_hello_split_over_many_records_is_joined(record_size: int) -> None:
    data = build(sni(b"Web.Example"), record_size)
    assert parse_client_hello(data) == ClientHello("web.example")


@given(st.binary(max_size=300))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        result = parse_client_hello(data)
    except NotClientHello:
        return
    assert result is None or isinstance(result, ClientHello)


@given(st.binary(min_size=1, max_size=200))
def test_garbage_inside_a_valid_record_never_crashes(payload: bytes) -> None:
    data = b"\x16\x03\x01" + vec(2, b"\x01" + vec(3, payload))
    try:
        parse_client_hello(data)
    except NotClientHello:
        pass


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x17\x03\x03\x00\x01x", "handshake record"),
        (b"\x16\x03\x01\x00\x00", "record length"),
        (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "not a ClientHello"),
        (build(sni(b"a") + sni(b"b")), "duplicate"),
        (
            build(b"\x00\x00" + vec(2, vec(2, b"\x00" + vec(2, b"a") + b"\x00" + vec(2, b"b")))),
            "more than one",
        ),
        (build(b"\x00\x10" + vec(2, vec(2, b"\x00"))), "empty ALPN"),
        (b"\x16\x03\x01\x00\x04\x01\xff\xff\xff", "exceeds"),
    ],
)
def test_malformed_hellos_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(NotClientHello, match=why):
        parse_client_hello(data)
