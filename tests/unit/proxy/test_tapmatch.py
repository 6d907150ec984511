"""The tap match tree: every kind of match, combined with all/any/not, and bad trees rejected."""

from __future__ import annotations

import pytest

from lightmesh.api.gen import tap_pb2 as pb
from lightmesh.proxy.tapmatch import Facts, compile_match

Http = pb.Match.Http
Tcp = pb.Match.Tcp


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "src_ip": "10.0.0.5",
        "src_port": 40000,
        "dst_ip": "10.0.1.7",
        "dst_port": 8080,
        "method": "GET",
        "scheme": "http",
        "authority": "web.default:8080",
        "path": "/api/users",
        "src_meta": {"pod": "vote-0"},
        "dst_meta": {"service": "web", "namespace": "default"},
    }
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def prefix(p: str) -> pb.Match:
    return pb.Match(http=Http(path=Http.StringMatch(prefix=p)))


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (None, True),
        (pb.Match(), True),
        (prefix("/api"), True),
        (prefix("/web"), False),
        (pb.Match(http=Http(path=Http.StringMatch(exact="/api/users"))), True),
        (pb.Match(http=Http(authority=Http.StringMatch(prefix="web."))), True),
        (pb.Match(http=Http(method="POST")), False),
        (pb.Match(http=Http(scheme="HTTP")), True),
        (pb.Match(destination=Tcp(netmask=Tcp.Netmask(ip="10.0.1.0", mask=24))), True),
        (pb.Match(source=Tcp(netmask=Tcp.Netmask(ip="10.0.1.0", mask=24))), False),
        (pb.Match(destination=Tcp(ports=Tcp.PortRange(min=8000, max=9000))), True),
        (pb.Match(source=Tcp(ports=Tcp.PortRange(min=8080))), False),
        (pb.Match(destination_label=pb.Match.Label(key="service", value="web")), True),
        (pb.Match(source_label=pb.Match.Label(key="pod", value="web-0")), False),
        (pb.Match(all=pb.Match.Seq(matches=[prefix("/api"), prefix("/api/u")])), True),
        (pb.Match(all=pb.Match.Seq(matches=[prefix("/api"), prefix("/x")])), False),
        (pb.Match(any=pb.Match.Seq(matches=[prefix("/x"), prefix("/api")])), True),
        (pb.Match(any=pb.Match.Seq()), False),
        (pb.Match(**{"not": prefix("/api")}), False),
    ],
)
def test_match_kinds(match: pb.Match | None, expected: bool) -> None:
    assert compile_match(match)(facts()) is expected


def test_a_netmask_never_matches_an_unknown_address() -> None:
    match = compile_match(pb.Match(destination=Tcp(netmask=Tcp.Netmask(ip="0.0.0.0", mask=0))))
    assert match(facts(dst_ip="192.0.2.1"))
    assert not match(facts(dst_ip=""))


@pytest.mark.parametrize(
    ("match", "message"),
    [
        (pb.Match(source=Tcp()), "empty tcp match"),
        (pb.Match(source=Tcp(netmask=Tcp.Netmask(ip="nope", mask=8))), "invalid netmask"),
        (pb.Match(source=Tcp(ports=Tcp.PortRange(min=9000, max=8000))), "port range"),
        (pb.Match(http=Http()), "empty http match"),
        (pb.Match(http=Http(path=Http.StringMatch())), "empty path match"),
        (pb.Match(destination_label=pb.Match.Label(value="x")), "without a key"),
        (pb.Match(all=pb.Match.Seq(matches=[pb.Match(http=Http())])), "empty http match"),
    ],
)
def test_malformed_trees_are_rejected(match: pb.Match, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_match(match)
