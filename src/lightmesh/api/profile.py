"""A ``DestinationProfile`` message as the proxy's :class:`~lightmesh.core.routes.Profile`.

:func:`profile_from_message` converts what ``GetProfile`` streams into the immutable,
pre-compiled values the route layers match against: regular expressions compiled once,
durations in seconds, percentages checked. A message the proxy cannot use (a bad
regex, an out-of-range status) raises ``ValueError`` saying why, and the caller keeps
the profile it had.
"""

from __future__ import annotations

import re
from typing import Protocol

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.core.routes import (
    DEFAULT_RETRY_LIMIT,
    AllOf,
    AnyOf,
    Budget,
    Fault,
    Header,
    Match,
    Method,
    Not,
    PathExact,
    PathPrefix,
    PathRegex,
    Profile,
    ResponseClass,
    Route,
    StatusRange,
)

MAX_DEPTH = 16


class _Duration(Protocol):
    seconds: int
    nanos: int


def _seconds(duration: _Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def _regex(text: str) -> re.Pattern[bytes]:
    try:
        return re.compile(text.encode("utf-8"))
    except re.error as exc:
        raise ValueError(f"invalid regex {text!r}: {exc}") from None


def request_match(msg: pb.RequestMatch, depth: int = 0) -> Match:
    if depth > MAX_DEPTH:
        raise ValueError("request match nested too deep")
    kind = msg.WhichOneof("match")
    if kind == "all":
        return AllOf(tuple(request_match(m, depth + 1) for m in msg.all.matches))
    if kind == "any":
        return AnyOf(tuple(request_match(m, depth + 1) for m in msg.any.matches))
    if kind == "not":
        return Not(request_match(getattr(msg, "not"), depth + 1))
    if kind == "method":
        return Method(msg.method.upper().encode("ascii"))
    if kind == "path":
        path = msg.path
        if path.regex:
            return PathRegex(_regex(path.regex))
        if path.exact:
            return PathExact(path.exact.encode("utf-8"))
        if path.prefix:
            return PathPrefix(path.prefix.encode("utf-8"))
        raise ValueError("path match without regex, exact or prefix")
    if kind == "header":
        header = msg.header
        name = header.name.lower().encode("ascii")
        which = header.WhichOneof("value")
        if which == "regex":
            return Header(name, regex=_regex(header.regex))
        if which == "exact":
            return Header(name, exact=header.exact.encode("utf-8"))
        return Header(name)
    raise ValueError("empty request match")


def _status_ranges(
    msg: pb.ResponseMatch, negate: bool, depth: int = 0
) -> tuple[tuple[StatusRange, ...], bool]:
    """A response condition as (ranges, negate): any of ranges matches, inverted if ``negate``."""
    if depth > MAX_DEPTH:
        raise ValueError("response match nested too deep")
    kind = msg.WhichOneof("match")
    if kind == "status":
        low, high = msg.status.min or 100, msg.status.max or 599
        if not 100 <= low <= high <= 599:
            raise ValueError(f"invalid status range {low}-{high}")
        return (StatusRange(low, high),), negate
    if kind == "not":
        return _status_ranges(getattr(msg, "not"), not negate, depth + 1)
    if kind in ("any", "all"):
        seq = msg.any if kind == "any" else msg.all
        ranges: list[StatusRange] = []
        for item in seq.matches:
            sub, sub_negate = _status_ranges(item, False, depth + 1)
            if sub_negate:
                raise ValueError("`not` inside `any`/`all` of a response class is not supported")
            ranges.extend(sub)
        if kind == "all" and len(ranges) > 1:
            low, high = max(r.min for r in ranges), min(r.max for r in ranges)
            ranges = [StatusRange(low, high)] if low <= high else []
        return tuple(ranges), negate
    raise ValueError("empty response match")


def response_class(msg: pb.ResponseClass) -> ResponseClass:
    ranges, negate = _status_ranges(msg.condition, False)
    return ResponseClass(ranges, msg.is_failure, negate)


def fault(msg: pb.FaultInjection) -> Fault | None:
    abort, delay = msg.abort, msg.delay
    if not (abort.percent or delay.percent):
        return None
    if abort.percent and not 100 <= abort.status <= 599:
        raise ValueError(f"fault abort status {abort.status} is not an HTTP status")
    if not (0 <= abort.percent <= 100 and 0 <= delay.percent <= 100):
        raise ValueError("fault percentages must be 0 to 100")
    return Fault(abort.status, abort.percent, _seconds(delay.duration), delay.percent)


def route(msg: pb.Route) -> Route:
    return Route(
        name=msg.name,
        match=request_match(msg.condition) if msg.HasField("condition") else None,
        retryable=msg.is_retryable,
        timeout=_seconds(msg.timeout) or None if msg.HasField("timeout") else None,
        response_timeout=_seconds(msg.response_timeout) or None if msg.HasField("response_timeout") else None,
        idle_timeout=_seconds(msg.idle_timeout) or None if msg.HasField("idle_timeout") else None,
        retry_limit=msg.retry_limit or DEFAULT_RETRY_LIMIT,
        classes=tuple(response_class(c) for c in msg.response_classes),
        fault=fault(msg.fault) if msg.HasField("fault") else None,
    )


def profile_from_message(msg: pb.DestinationProfile) -> Profile:
    """The profile the proxy applies; ``ValueError`` when the message cannot be used."""
    budget = Budget()
    if msg.HasField("retry_budget"):
        b = msg.retry_budget
        ttl = _seconds(b.ttl) if b.HasField("ttl") else 10.0
        if b.retry_ratio < 0 or ttl <= 0:
            raise ValueError("retry budget: ratio >= 0 and ttl > 0")
        budget = Budget(float(b.retry_ratio), float(b.min_retries_per_second), ttl)
    return Profile(tuple(route(r) for r in msg.routes), budget, msg.allow_overrides)
