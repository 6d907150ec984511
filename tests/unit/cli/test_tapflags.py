"""``lightmesh tap`` flags become a target resource and one ``all`` match tree."""

from __future__ import annotations

import pytest

from lightmesh.api.gen import tap_pb2
from lightmesh.cli.tapflags import TapFlags, tap_request

Match = tap_pb2.Match


def test_a_bare_resource_taps_everything_at_the_default_rate() -> None:
    request = tap_request(TapFlags("deploy/web"))
    assert (request.target.namespace, request.target.type, request.target.name) == (
        "default",
        "service",
        "web",
    )
    assert not request.observe.HasField("match")
    assert request.observe.max_rps == 100.0


def test_a_namespace_target_uses_its_name_as_namespace() -> None:
    request = tap_request(TapFlags("ns", "emojivoto", namespace="default"))
    assert (request.target.namespace, request.target.type) == ("emojivoto", "namespace")


def test_every_filter_becomes_one_node_of_an_all_match() -> None:
    flags = TapFlags(
        "po/web-0",
        namespace="emojivoto",
        to="svc/voting",
        method="post",
        authority="voting:8080",
        path="/emojivoto.v1",
        scheme="HTTP",
        max_rps=5,
        limit=10,
    )
    request = tap_request(flags)
    nodes = list(request.observe.match.all.matches)
    assert nodes == [
        Match(destination_label=Match.Label(key="service", value="voting")),
        Match(destination_label=Match.Label(key="namespace", value="emojivoto")),
        Match(http=Match.Http(method="POST")),
        Match(http=Match.Http(authority=Match.Http.StringMatch(exact="voting:8080"))),
        Match(http=Match.Http(path=Match.Http.StringMatch(prefix="/emojivoto.v1"))),
        Match(http=Match.Http(scheme="http")),
    ]
    assert (request.observe.max_rps, request.observe.limit) == (5, 10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (TapFlags("rs/web"), "unknown resource type"),
        (TapFlags("deploy/web", to="deploy"), "--to needs TYPE/NAME"),
        (TapFlags("deploy/web", path="api"), "--path must start with '/'"),
        (TapFlags("deploy/web", scheme="ftp"), "--scheme"),
        (TapFlags("deploy/web", max_rps=0), "--max-rps"),
        (TapFlags("deploy/web", limit=-1), "--limit"),
    ],
)
def test_bad_flags_say_which_flag(flags: TapFlags, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tap_request(flags)
