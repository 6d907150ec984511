"""DestinationProfile messages as the proxy's Profile: matches, classes, faults, refusals."""

from __future__ import annotations

import pytest

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.api.profile import profile_from_message, response_class
from lightmesh.core.routes import DEFAULT_ROUTE, Fault


def route(name: str = "r", **fields: object) -> pb.Route:
    return pb.Route(name=name, **fields)  # type: ignore[arg-type]


def test_path_header_and_combined_matches() -> None:
    msg = pb.DestinationProfile(
        routes=[
            route(condition=pb.RequestMatch(path=pb.PathMatch(exact="/a"))),
            route(
                name="b",
                condition=pb.RequestMatch(
                    all=pb.RequestMatch.Seq(
                        matches=[
                            pb.RequestMatch(path=pb.PathMatch(prefix="/b")),
                            pb.RequestMatch(header=pb.HeaderMatch(name="X-Canary", regex="y.*")),
                            pb.RequestMatch(**{"not": pb.RequestMatch(method="delete")}),
                        ]
                    )
                ),
            ),
        ]
    )
    profile = profile_from_message(msg)
    assert profile.route_for(b"GET", b"/a?q", []).name == "r"
    assert profile.route_for(b"GET", b"/b/1", [(b"x-canary", b"yes")]).name == "b"
    assert profile.route_for(b"DELETE", b"/b/1", [(b"x-canary", b"yes")]) is DEFAULT_ROUTE
    assert profile.route_for(b"GET", b"/b/1", []) is DEFAULT_ROUTE


def test_response_classes_from_status_ranges() -> None:
    five = pb.ResponseMatch(status=pb.HttpStatusRange(min=500, max=599))
    cls = response_class(pb.ResponseClass(condition=pb.ResponseMatch(**{"not": five}), is_failure=False))
    assert cls.matches(200) and not cls.matches(503)
    both = pb.ResponseMatch(
        all=pb.ResponseMatch.Seq(matches=[five, pb.ResponseMatch(status=pb.HttpStatusRange(min=502))])
    )
    assert response_class(pb.ResponseClass(condition=both, is_failure=True)).statuses[0].min == 502


def test_fault_and_timeouts() -> None:
    msg = route(
        fault=pb.FaultInjection(
            abort=pb.FaultInjection.Abort(status=503, percent=5),
            delay=pb.FaultInjection.Delay(percent=10),
        )
    )
    msg.fault.delay.duration.FromMilliseconds(150)
    msg.timeout.FromMilliseconds(250)
    parsed = profile_from_message(pb.DestinationProfile(routes=[msg])).routes[0]
    assert parsed.fault == Fault(503, 5.0, 0.15, 10.0)
    assert parsed.timeout == 0.25 and parsed.response_timeout is None and parsed.retry_limit == 3


@pytest.mark.parametrize(
    "bad",
    [
        route(condition=pb.RequestMatch(path=pb.PathMatch(regex="(["))),
        route(condition=pb.RequestMatch()),
        route(fault=pb.FaultInjection(abort=pb.FaultInjection.Abort(status=42, percent=5))),
        route(
            response_classes=[
                pb.ResponseClass(condition=pb.ResponseMatch(status=pb.HttpStatusRange(min=600)))
            ]
        ),
    ],
    ids=["bad-regex", "empty-match", "bad-abort-status", "bad-status-range"],
)
def test_unusable_profiles_are_refused_with_a_reason(bad: pb.Route) -> None:
    with pytest.raises(ValueError, match=r"."):
        profile_from_message(pb.DestinationProfile(routes=[bad]))
