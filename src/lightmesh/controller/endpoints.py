"""Endpoints of services, and what to send a client as they change (sans-I/O).

:class:`Service` is one service's current endpoints as a discovery source reports them.
:class:`EndpointView` is what one client (a ``Destination.Get`` stream) has been told; each
call to :meth:`EndpointView.update` with the service's current state returns the updates
that bring the client up to date:

* the first call answers at once: ``Add`` with every endpoint, or ``NoEndpoints(exists)``
  when there are none (``exists`` is false when the service is unknown);
* later calls send ``Add`` for new endpoints and endpoints whose metadata changed (an add
  for a known address replaces it), then ``Remove`` for endpoints that are gone: adds come
  first so a client replacing every endpoint never holds an empty set in between;
* when the set becomes empty, ``NoEndpoints(exists)`` alone: it clears the client's set;
* nothing when nothing the client sees changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

DEFAULT_WEIGHT = 10_000
ProtocolHint = Literal["h2", "opaque"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address of a service and what a client needs to know about it."""

    addr: SocketAddr
    weight: int = DEFAULT_WEIGHT
    labels: tuple[tuple[str, str], ...] = ()  # sorted by name
    identity: str | None = None  # the TLS identity its certificate must present
    protocol: ProtocolHint | None = None  # None: the client detects the protocol


@dataclass(frozen=True, slots=True)
class Service:
    """A service that exists, with its current endpoints (possibly none)."""

    name: ServiceName
    endpoints: Mapping[SocketAddr, Endpoint] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Add:
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class Remove:
    addrs: tuple[SocketAddr, ...]


@dataclass(frozen=True, slots=True)
class NoEndpoints:
    exists: bool


Update = Add | Remove | NoEndpoints


class EndpointView:
    """The endpoint set one client holds; turns new service states into updates for it."""

    __slots__ = ("_endpoints", "_exists", "_started")

    def __init__(self) -> None:
        self._endpoints: dict[SocketAddr, Endpoint] = {}
        self._exists: bool | None = None
        self._started = False

    def update(self, service: Service | None) -> list[Update]:
        """Updates that take the client from what it holds to ``service`` (``None``: unknown)."""
        current = dict(service.endpoints) if service is not None else {}
        exists = service is not None
        first, self._started = not self._started, True
        if not current:
            changed = first or bool(self._endpoints) or self._exists != exists
            self._endpoints, self._exists = {}, exists
            return [NoEndpoints(exists)] if changed else []
        added = tuple(e for a, e in sorted(current.items()) if self._endpoints.get(a) != e)
        removed = tuple(sorted(a for a in self._endpoints if a not in current))
        self._endpoints, self._exists = current, True
        updates: list[Update] = []
        if added:
            updates.append(Add(added))
        if removed:
            updates.append(Remove(removed))
        return updates
