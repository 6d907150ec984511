"""Service profiles in the controller: the validated spec, its API message, and the book of them.

A profile gives one service (``name`` and ``namespace``, every port) per-route
behaviour. The same spec comes from the file registry's ``profiles:`` section and from a
Kubernetes ``ServiceProfile``'s ``spec`` (keys in camelCase, as Linkerd's)::

    name: web
    namespace: default
    allowOverrides: true          # honour lightmesh-retry-limit / lightmesh-timeout headers
    retryBudget: {retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 10s}
    routes:
      - name: GET /users/{id}
        condition: {method: GET, pathRegex: '/users/[^/]+'}   # keys given must all match
        isRetryable: true
        timeout: 300ms            # all attempts -> 504
        responseTimeout: 100ms    # one attempt
        idleTimeout: 30s          # the response body's longest pause
        retryLimit: 3
        responseClasses:
          - condition: {status: {min: 500, max: 599}}
            isFailure: true
        fault:
          abort: {status: 503, percent: 10}
          delay: {duration: 100ms, percent: 5}

A condition matches ``method``, ``path`` (exact), ``pathPrefix``, ``pathRegex`` (whole
path), ``headers`` (each ``{name, value}``, ``{name, regex}`` or ``{name}``: present) and
nests ``all``, ``any`` and ``not``. The pydantic models refuse unknown keys, bad regexes,
durations without units, statuses outside 100-599 and percentages outside 0-100, so a bad
profile is reported with its line and never replaces the last good one.
:func:`~lightmesh.controller.translate.profile_message` turns a spec (or none) into the
``DestinationProfile`` streamed by ``GetProfile``; :class:`ProfileBook` holds the current
specs by service host and tells watchers when one changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from lightmesh.core.durations import parse_duration
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN, check_label

# linkerd's defaults: 20% extra load, 10 retries/s, 10 s window
RETRY_RATIO = 0.2
MIN_RETRIES_PER_SECOND = 10
RETRY_TTL_SECONDS = 10
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+\Z")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)


def _duration(value: str) -> str:
    if parse_duration(value) <= 0:
        raise ValueError("must be more than 0")
    return value


def _unitless(value: Any) -> Any:
    """A bare number where a duration belongs: say what is missing rather than 'not a string'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: add a unit, e.g. {value}ms or {value}s")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value.encode("utf-8"))
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return value


class HeaderSpec(_Spec):
    name: str
    value: str | None = None
    regex: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"invalid header name {value!r}: lower-case token characters")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _regex(value)

    @model_validator(mode="after")
    def _one(self) -> HeaderSpec:
        if self.value is not None and self.regex is not None:
            raise ValueError("a header match has `value` or `regex`, not both")
        return self


class ConditionSpec(_Spec):
    method: str | None = None
    path: str | None = None
    path_prefix: str | None = None
    path_regex: str | None = None
    headers: list[HeaderSpec] = []
    all: list[ConditionSpec] | None = None
    any: list[ConditionSpec] | None = None
    not_: ConditionSpec | None = Field(None, alias="not")

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z]+", value):
            raise ValueError(f"invalid method {value!r}: upper case, e.g. GET")
        return value

    @field_validator("path", "path_prefix")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} must start with /")
        return value

    @field_validator("path_regex")
    @classmethod
    def _path_regex(cls, value: str | None) -> str | None:
        return None if value is None else _regex(value)

    @model_validator(mode="after")
    def _not_empty(self) -> ConditionSpec:
        if not self.model_fields_set:
            raise ValueError(
                "a condition needs method, path, pathPrefix, pathRegex, headers, all, any or not"
            )
        return self


class StatusSpec(_Spec):
    min: int = Field(100, ge=100, le=599)
    max: int = Field(599, ge=100, le=599)

    @model_validator(mode="after")
    def _order(self) -> StatusSpec:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ResponseConditionSpec(_Spec):
    status: StatusSpec | None = None
    any: list[StatusSpec] | None = None
    not_: StatusSpec | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one(self) -> ResponseConditionSpec:
        if len(self.model_fields_set) != 1:
            raise ValueError("a response condition has exactly one of status, any, not")
        return self


class ResponseClassSpec(_Spec):
    condition: ResponseConditionSpec
    is_failure: bool = False


class AbortSpec(_Spec):
    status: int = Field(ge=100, le=599)
    percent: float | int = Field(ge=0, le=100)


class DelaySpec(_Spec):
    duration: str
    percent: float | int = Field(ge=0, le=100)

    _duration = field_validator("duration")(_duration)
    _unitless = field_validator("duration", mode="before")(_unitless)


class FaultSpec(_Spec):
    abort: AbortSpec | None = None
    delay: DelaySpec | None = None


class RouteSpec(_Spec):
    name: str = Field(min_length=1)
    condition: ConditionSpec | None = None
    is_retryable: bool = False
    timeout: str | None = None
    response_timeout: str | None = None
    idle_timeout: str | None = None
    retry_limit: int | None = Field(None, ge=1, le=100)
    response_classes: list[ResponseClassSpec] = []
    fault: FaultSpec | None = None

    @field_validator("timeout", "response_timeout", "idle_timeout")
    @classmethod
    def _timeouts(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    _unitless = field_validator("timeout", "response_timeout", "idle_timeout", mode="before")(_unitless)


class RetryBudgetSpec(_Spec):
    retry_ratio: float | int = Field(RETRY_RATIO, ge=0, le=1000)
    min_retries_per_second: int = Field(MIN_RETRIES_PER_SECOND, ge=0, le=1_000_000)
    ttl: str = f"{RETRY_TTL_SECONDS}s"

    _ttl = field_validator("ttl")(_duration)
    _unitless = field_validator("ttl", mode="before")(_unitless)


class ProfileBody(_Spec):
    """What a profile says, without which service it is for (a ``ServiceProfile``'s spec)."""

    routes: list[RouteSpec] = []
    retry_budget: RetryBudgetSpec | None = None
    allow_overrides: bool = False


class ProfileSpec(ProfileBody):
    """A profile in the file registry: the service it applies to, then what it says."""

    name: str
    namespace: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_label("service name", value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_label("namespace", value)

    def host(self, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> str:
        return f"{self.name}.{self.namespace}.svc.{cluster_domain}"


class ProfileBook:
    """The current profile of each service host, and who watches which host."""

    def __init__(self) -> None:
        self._profiles: dict[str, ProfileBody] = {}
        self._watchers: dict[str, set[Callable[[], None]]] = {}

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, host: str) -> ProfileBody | None:
        return self._profiles.get(host)

    def watch(self, host: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify()`` whenever the profile of ``host`` changes; returns the unwatch."""
        watchers = self._watchers.setdefault(host, set())
        watchers.add(notify)

        def unwatch() -> None:
            watchers.discard(notify)
            if not watchers and self._watchers.get(host) is watchers:
                del self._watchers[host]

        return unwatch

    def replace_all(self, profiles: Mapping[str, ProfileBody]) -> None:
        old, self._profiles = self._profiles, dict(profiles)
        for host in old.keys() | self._profiles.keys():
            if old.get(host) != self._profiles.get(host):
                self._notify(host)

    def set_profile(self, host: str, profile: ProfileBody | None) -> None:
        before = self._profiles.get(host)
        if profile is None:
            self._profiles.pop(host, None)
        else:
            self._profiles[host] = profile
        if before != profile:
            self._notify(host)

    def _notify(self, host: str) -> None:
        for notify in tuple(self._watchers.get(host, ())):
            notify()


def check_profiles(specs: list[ProfileSpec]) -> list[tuple[tuple[int | str, ...], str]]:
    """Problems across profiles: a service with two profiles."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(specs):
        if seen.setdefault((spec.name, spec.namespace), i) != i:
            problems.append((("profiles", i), f"service {spec.name}.{spec.namespace} has two profiles"))
    return problems
