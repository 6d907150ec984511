"""Parsing ``host:port`` authorities, socket addresses, static destinations and port lists."""

from __future__ import annotations

import re

import pytest

from lightmesh.core.addr import (
    SocketAddr,
    is_ip,
    normalize_authority,
    parse_ports,
    parse_socket_addr,
    parse_static_destinations,
    split_host_port,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web.default.svc:8080", ("web.default.svc", 8080)),
        ("10.0.0.1:80", ("10.0.0.1", 80)),
        ("[::1]:80", ("::1", 80)),
        ("[fe80::1%eth0]:443", ("fe80::1%eth0", 443)),
        ("Example.COM:0", ("example.com", 0)),
        ("host:65535", ("host", 65535)),
    ],
)
def test_host_and_port_are_split(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web", ("web", 80)),
        ("[::1]", ("::1", 80)),
        ("::1", ("::1", 80)),
        ("2001:db8::7", ("2001:db8::7", 80)),
    ],
)
def test_missing_port_uses_the_default(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, 80) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty address"),
        ("web", "missing port"),
        ("web:", "missing port after ':'"),
        ("[::1]:", "missing port after ':'"),
        (":80", "missing host"),
        ("[]:80", "missing host"),
        ("[::1", "unclosed '['"),
        ("[::1]80", "unexpected '80' after ']'"),
        ("web:http", "invalid port 'http'"),
        ("web:-1", "invalid port '-1'"),
        ("web:65536", "port 65536 out of range"),
        ("web:\u0668\u0660", "invalid port"),
        ("web:\u00b2", "invalid port"),
        ("web:80:90", "too many ':'"),
        ("[web]:80", "is not an IPv6 address"),
    ],
)
def test_bad_addresses_are_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        split_host_port(text, None if message == "missing port" else 80)


def test_socket_addr_puts_ipv6_hosts_in_brackets() -> None:
    assert str(SocketAddr("::1", 80)) == "[::1]:80"
    assert str(SocketAddr("10.0.0.1", 80)) == "10.0.0.1:80"


def test_parse_socket_addr_strips_whitespace_and_keeps_host_names() -> None:
    assert parse_socket_addr("  web:8080 ") == SocketAddr("web", 8080)
    assert parse_socket_addr("[::1]:4143") == SocketAddr("::1", 4143)


def test_parse_socket_addr_requires_a_port() -> None:
    with pytest.raises(ValueError, match="missing port"):
        parse_socket_addr("10.0.0.1")


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        (b"Web.Default:8080", "web.default:8080"),
        (b"web", "web:80"),
        (b"[::1]", "[::1]:80"),
        (b" web:81 ", "web:81"),
    ],
)
def test_authorities_normalize_to_lower_case_host_port(authority: bytes, expected: str) -> None:
    assert normalize_authority(authority) == expected


def test_is_ip_accepts_ipv4_and_ipv6_only() -> None:
    assert is_ip("10.0.0.1")
    assert is_ip("::1")
    assert not is_ip("web")
    assert not is_ip("10.0.0.256")


def test_static_destinations_map_authorities_to_endpoints() -> None:
    table = parse_static_destinations("web:80=10.0.0.1:8080, 10.0.0.2:8080 ; [::1]:5432=[::1]:5433;")
    assert table == {
        "web:80": [SocketAddr("10.0.0.1", 8080), SocketAddr("10.0.0.2", 8080)],
        "[::1]:5432": [SocketAddr("::1", 5433)],
    }


def test_static_destination_names_are_normalized() -> None:
    assert list(parse_static_destinations("Web.Svc:80=web:1")) == ["web.svc:80"]


def test_empty_static_destinations_spec_is_an_empty_map() -> None:
    assert parse_static_destinations("") == {}
    assert parse_static_destinations(" ; ") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("web:80", "'web:80' needs '=' between name:port and endpoints"),
        ("web:80=", "static destination 'web:80' lists no endpoints"),
        ("web:80= , ", "static destination 'web:80' lists no endpoints"),
        ("web=10.0.0.1:80", "static destination 'web=10.0.0.1:80': missing port in 'web'"),
        ("web:80=10.0.0.1", "static destination 'web:80=10.0.0.1': missing port in '10.0.0.1'"),
        ("web:80=10.0.0.1:x", "invalid port 'x'"),
        ("web:80=a:1;web:80=b:1", "'web:80' is listed more than once"),
    ],
)
def test_bad_static_destinations_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_static_destinations(spec)


def test_ports_accept_lists_and_inclusive_ranges() -> None:
    assert parse_ports("25, 587,3306-3308") == frozenset({25, 587, 3306, 3307, 3308})


def test_single_port_range_and_empty_spec() -> None:
    assert parse_ports("80-80") == frozenset({80})
    assert parse_ports("") == frozenset()
    assert parse_ports(" , ") == frozenset()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("90-80", "empty port range '90-80'"),
        ("80-", "invalid port ''"),
        ("-80", "invalid port ''"),
        ("1-2-3", "invalid port '2-3'"),
        ("http", "invalid port 'http'"),
        ("70000", "port 70000 out of range"),
    ],
)
def test_bad_port_specs_are_rejected(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_ports(spec)
