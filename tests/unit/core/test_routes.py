"""Route matching, response classes, fault decisions and override headers (sans-I/O)."""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.core.routes import (
    DEFAULT_ROUTE,
    AllOf,
    AnyOf,
    Fault,
    Header,
    Method,
    Not,
    PathExact,
    PathPrefix,
    PathRegex,
    Profile,
    ResponseClass,
    Route,
    StatusRange,
    is_failure,
    parse_retry_limit,
    parse_timeout_header,
)


def test_first_matching_route_wins_and_the_query_is_ignored() -> None:
    users = Route("users", AllOf((Method(b"GET"), PathRegex(re.compile(rb"/users/[^/]+")))))
    anything = Route("any")
    profile = Profile((users, anything))
    assert profile.route_for(b"GET", b"/users/7?x=1", []) is users
    assert profile.route_for(b"POST", b"/users/7", []) is anything
    assert Profile((users,)).route_for(b"GET", b"/users/7/x", []) is DEFAULT_ROUTE


def test_prefix_matches_whole_segments_only() -> None:
    api = PathPrefix(b"/api")
    assert api.matches(b"GET", b"/api", [])
    assert api.matches(b"GET", b"/api/v1", [])
    assert not api.matches(b"GET", b"/apix", [])
    assert PathPrefix(b"/api/").matches(b"GET", b"/api/v1", [])
    assert PathExact(b"/a").matches(b"GET", b"/a", []) and not PathExact(b"/a").matches(b"GET", b"/a/", [])


def test_header_matches_exact_regex_or_presence() -> None:
    headers = [(b"x-canary", b"yes"), (b"x-user", b"42")]
    assert Header(b"x-canary", exact=b"yes").matches(b"GET", b"/", headers)
    assert not Header(b"x-canary", exact=b"no").matches(b"GET", b"/", headers)
    assert Header(b"x-user", regex=re.compile(rb"\d+")).matches(b"GET", b"/", headers)
    assert Header(b"x-user").matches(b"GET", b"/", headers)
    assert not Header(b"x-other").matches(b"GET", b"/", headers)


def test_any_and_not_combine_matches() -> None:
    match = AnyOf((Method(b"GET"), Not(PathPrefix(b"/admin"))))
    assert match.matches(b"GET", b"/admin", [])
    assert match.matches(b"POST", b"/x", [])
    assert not match.matches(b"POST", b"/admin/x", [])


def test_response_classes_decide_failures_else_5xx_or_grpc() -> None:
    classes = (ResponseClass((StatusRange(500, 502),), True), ResponseClass((StatusRange(503, 503),), False))
    assert is_failure(classes, 500)
    assert not is_failure(classes, 503)
    assert is_failure(classes, 504)  # the default applies
    assert not is_failure((), 404)
    assert is_failure((), 200, grpc_status=14)
    assert not is_failure((), 200, grpc_status=0)
    assert is_failure((ResponseClass((StatusRange(200, 299),), True, negate=True),), 404)


@given(st.floats(0, 100), st.floats(0, 100), st.integers(0, 2**32))
def test_fault_shares_hold_within_statistical_bounds(abort: float, delay: float, seed: int) -> None:
    rng = random.Random(seed)
    fault = Fault(503, abort, 0.1, delay)
    n = 2000
    decisions = [fault.decide(rng) for _ in range(n)]
    aborted = sum(a == 503 for _, a in decisions)
    delayed = sum(d > 0 for d, _ in decisions)
    for share, count in ((abort, aborted), (delay, delayed)):
        p = share / 100
        assert abs(count - n * p) <= 6 * (n * p * (1 - p)) ** 0.5 + 1


@given(st.binary(max_size=20))
def test_override_headers_never_raise(value: bytes) -> None:
    limit = parse_retry_limit(value)
    assert limit is None or 0 <= limit <= 100
    timeout = parse_timeout_header(value)
    assert timeout is None or timeout >= 0


def test_override_header_values() -> None:
    assert parse_retry_limit(b"3") == 3
    assert parse_retry_limit(b"101") is None
    assert parse_timeout_header(b"250") == 0.25
    assert parse_timeout_header(b"2s") == 2.0
    assert parse_timeout_header(b"soon") is None
