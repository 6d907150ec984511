"""Controller values as destination API protobuf messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.api.addr import socket_addr, tcp_address
from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.controller.endpoints import Add, Endpoint, NoEndpoints, Remove
from lightmesh.controller.translate import profile_message, update_kind, update_message
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

NAME = ServiceName("web", "default", 80)


def test_ipv4_is_a_big_endian_fixed32() -> None:
    msg = tcp_address(SocketAddr("10.0.0.1", 8080))
    assert msg.ip.ipv4 == 0x0A000001
    assert msg.port == 8080


def test_ipv6_is_two_big_endian_halves() -> None:
    msg = tcp_address(SocketAddr("fd00::1:2", 443))
    assert msg.ip.ipv6.first == 0xFD00_0000_0000_0000
    assert msg.ip.ipv6.last == 0x0000_0000_0001_0002


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), st.integers(1, 65535))
def test_addresses_round_trip(ip: object, port: int) -> None:
    addr = SocketAddr(str(ip), port)
    assert socket_addr(pb.TcpAddress.FromString(tcp_address(addr).SerializeToString())) == addr


def test_add_carries_weight_labels_identity_and_protocol_hint() -> None:
    endpoints = (
        Endpoint(SocketAddr("10.0.0.1", 80), 7, (("pod", "web-1"),), "web.default.sa.id.local", "h2"),
        Endpoint(SocketAddr("10.0.0.2", 80), protocol="opaque"),
        Endpoint(SocketAddr("10.0.0.3", 80)),
    )
    msg = update_message(Add(endpoints), NAME)
    assert msg.WhichOneof("update") == "add"
    assert dict(msg.add.metric_labels) == {"namespace": "default", "service": "web"}
    first, second, third = msg.add.addrs
    assert (first.weight, dict(first.metric_labels)) == (7, {"pod": "web-1"})
    assert first.tls_identity.dns_like_identity.name == "web.default.sa.id.local"
    assert first.protocol_hint.WhichOneof("protocol") == "h2"
    assert second.protocol_hint.WhichOneof("protocol") == "opaque"
    assert second.weight == 10_000
    assert not third.HasField("tls_identity")
    assert not third.HasField("protocol_hint")


def test_remove_and_no_endpoints() -> None:
    msg = update_message(Remove((SocketAddr("10.0.0.1", 80),)), NAME)
    assert [socket_addr(a) for a in msg.remove.addrs] == [SocketAddr("10.0.0.1", 80)]
    for exists in (True, False):
        msg = update_message(NoEndpoints(exists), NAME)
        assert msg.WhichOneof("update") == "no_endpoints"
        assert msg.no_endpoints.exists is exists


@pytest.mark.parametrize(
    ("update", "kind"),
    [(Add(()), "add"), (Remove(()), "remove"), (NoEndpoints(True), "no_endpoints")],
)
def test_update_kinds(update: Add | Remove | NoEndpoints, kind: str) -> None:
    assert update_kind(update) == kind


def test_a_profile_has_the_full_name_no_routes_and_the_default_retry_budget() -> None:
    msg = profile_message(NAME)
    assert msg.fully_qualified_name == "web.default.svc.cluster.local"
    assert list(msg.routes) == []
    assert msg.retry_budget.retry_ratio == pytest.approx(0.2)
    assert msg.retry_budget.min_retries_per_second == 10
    assert msg.retry_budget.ttl.seconds == 10
    assert profile_message(None).fully_qualified_name == ""


def test_routes_can_describe_conditions_retries_and_timeouts() -> None:
    """The Route shape a later issue fills in: path regex / method conditions, retryable, timeout."""
    route = pb.Route(name="GET /books/{id}", is_retryable=True)
    route.condition.all.matches.add(path=pb.PathMatch(regex="/books/[^/]+"))
    route.condition.all.matches.add(method="GET")
    route.timeout.FromMilliseconds(300)
    profile = pb.DestinationProfile.FromString(pb.DestinationProfile(routes=[route]).SerializeToString())
    (got,) = profile.routes
    assert [m.WhichOneof("match") for m in got.condition.all.matches] == ["path", "method"]
    assert got.timeout.ToMilliseconds() == 300
    assert got.is_retryable
