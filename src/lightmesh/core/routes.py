"""Service profiles as the proxy applies them: routes, request matching, response classes (sans-I/O).

A :class:`Profile` lists :class:`Route` values in order; :meth:`Profile.route_for` returns
the first whose :data:`Match` accepts the request (method, path without the query,
headers), else :data:`DEFAULT_ROUTE` (metric label ``[DEFAULT]``, nothing retried, no
timeout). Matches are small immutable trees: :class:`Method`, :class:`PathExact`,
:class:`PathPrefix`, :class:`PathRegex` (whole path), :class:`Header` (exact value or
regex), combined by :class:`AllOf`, :class:`AnyOf` and :class:`Not`.

A route's :class:`ResponseClass` list decides which responses are failures (for retries,
failure accrual and the ``classification`` label): the first class whose status range
matches wins; with none, a gRPC status other than 0, else a 5xx status, is a failure.

:class:`Fault` says what share of a route's requests is aborted with a status or delayed;
:meth:`Fault.decide` takes the random numbers from an injected generator.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from lightmesh.core.durations import parse_duration

Headers = list[tuple[bytes, bytes]]
RETRY_LIMIT_HEADER: Final = b"lightmesh-retry-limit"  # per-request overrides, for the outbound proxy only
TIMEOUT_HEADER: Final = b"lightmesh-timeout"
OVERRIDE_HEADERS: Final = (RETRY_LIMIT_HEADER, TIMEOUT_HEADER)
DEFAULT_RETRY_LIMIT: Final = 3  # retries per request unless the route or an override says otherwise
MAX_RETRY_LIMIT: Final = 100


@dataclass(frozen=True, slots=True)
class Method:
    method: bytes

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return method == self.method


@dataclass(frozen=True, slots=True)
class PathExact:
    path: bytes

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return path == self.path


@dataclass(frozen=True, slots=True)
class PathPrefix:
    """A prefix of whole segments: ``/api`` matches ``/api`` and ``/api/x``, not ``/apix``."""

    prefix: bytes

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        p = self.prefix
        if not path.startswith(p):
            return False
        return len(path) == len(p) or p.endswith(b"/") or path[len(p)] == 0x2F


@dataclass(frozen=True, slots=True)
class PathRegex:
    pattern: re.Pattern[bytes]

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return self.pattern.fullmatch(path) is not None


@dataclass(frozen=True, slots=True)
class Header:
    """A header (lower-case name) whose value equals ``exact`` or fully matches ``regex``."""

    name: bytes
    exact: bytes | None = None
    regex: re.Pattern[bytes] | None = None

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        for name, value in headers:
            if name == self.name:
                if self.regex is not None:
                    if self.regex.fullmatch(value) is not None:
                        return True
                elif self.exact is None or value == self.exact:
                    return True
        return False


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Match, ...]

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return all(m.matches(method, path, headers) for m in self.items)


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Match, ...]

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return any(m.matches(method, path, headers) for m in self.items)


@dataclass(frozen=True, slots=True)
class Not:
    inner: Match

    def matches(self, method: bytes, path: bytes, headers: Headers) -> bool:
        return not self.inner.matches(method, path, headers)


Match: Final[TypeAlias] = Method | PathExact | PathPrefix | PathRegex | Header | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class StatusRange:
    """HTTP statuses ``min`` to ``max`` inclusive; combine with ``all``/``any``/``negate``."""

    min: int = 100
    max: int = 599

    def matches(self, status: int) -> bool:
        return self.min <= status <= self.max


@dataclass(frozen=True, slots=True)
class ResponseClass:
    """Responses whose status is in any of ``statuses`` (or not, ``negate``) are failures or not."""

    statuses: tuple[StatusRange, ...]
    is_failure: bool
    negate: bool = False

    def matches(self, status: int) -> bool:
        return any(r.matches(status) for r in self.statuses) != self.negate


def is_failure(classes: tuple[ResponseClass, ...], status: int, grpc_status: int | None = None) -> bool:
    """Whether a response is a failure under a route's response classes (default: gRPC != 0, 5xx)."""
    for cls in classes:
        if cls.matches(status):
            return cls.is_failure
    if grpc_status is not None:
        return grpc_status != 0
    return status >= 500


@dataclass(frozen=True, slots=True)
class Fault:
    """Abort ``abort_percent`` % of requests with ``abort_status``; delay ``delay_percent`` % by ``delay``."""

    abort_status: int = 0
    abort_percent: float = 0.0
    delay: float = 0.0
    delay_percent: float = 0.0

    def decide(self, rng: random.Random) -> tuple[float, int | None]:
        """(seconds to delay, status to abort with or ``None``) for one request."""
        delayed = self.delay_percent > 0 and rng.random() * 100.0 < self.delay_percent
        aborted = self.abort_percent > 0 and rng.random() * 100.0 < self.abort_percent
        return (self.delay if delayed else 0.0), (self.abort_status if aborted else None)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: Match | None = None  # None: every request
    retryable: bool = False
    timeout: float | None = None  # whole request (all attempts) to the response head
    response_timeout: float | None = None  # one attempt to its response head
    idle_timeout: float | None = None  # the response body's longest pause
    retry_limit: int = DEFAULT_RETRY_LIMIT
    classes: tuple[ResponseClass, ...] = ()
    fault: Fault | None = None

    def failed(self, status: int, grpc_status: int | None = None) -> bool:
        return is_failure(self.classes, status, grpc_status)


DEFAULT_ROUTE: Final = Route("[DEFAULT]")


@dataclass(frozen=True, slots=True)
class Budget:
    """A retry budget's parameters: retries may add ``ratio`` of requests plus ``min_per_second``."""

    ratio: float = 0.2
    min_per_second: float = 10.0
    ttl: float = 10.0


@dataclass(frozen=True, slots=True)
class Profile:
    """A service's routes, its retry budget and whether per-request override headers count."""

    routes: tuple[Route, ...] = ()
    budget: Budget = field(default_factory=Budget)
    allow_overrides: bool = False

    def route_for(self, method: bytes, path: bytes, headers: Headers) -> Route:
        query = path.find(b"?")
        if query >= 0:
            path = path[:query]
        for route in self.routes:
            if route.match is None or route.match.matches(method, path, headers):
                return route
        return DEFAULT_ROUTE


def parse_retry_limit(value: bytes) -> int | None:
    """``lightmesh-retry-limit``: a count 0 to ``MAX_RETRY_LIMIT``; ``None`` when malformed."""
    if not value.isdigit() or len(value) > 3:
        return None
    limit = int(value)
    return limit if limit <= MAX_RETRY_LIMIT else None


def parse_timeout_header(value: bytes) -> float | None:
    """``lightmesh-timeout``: a duration (``500ms``, ``2s``) or bare milliseconds; ``None`` if bad."""
    if value.isdigit() and len(value) <= 10:
        return int(value) / 1000.0
    try:
        seconds = parse_duration(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return seconds if seconds > 0 else None
