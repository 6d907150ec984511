"""Endpoints of services, and what to send a client as they change (sans-I/O).

:class:`Service` is one service's current endpoints as a discovery source reports them;
a value is never changed once reported (sources build a new one), so holding a reference
keeps a snapshot. :func:`diff` gives the updates that bring a client (a ``Destination.Get``
stream) from the state it holds to the service's current state; the directory computes it
once per change and shares it among the streams of the service.
:class:`EndpointView` is the same for one client on its own, each call to
:meth:`EndpointView.update` with the service's current state:

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
    """A service that exists, with its current endpoints (possibly none).

    ``cluster_ips`` are its virtual IPs (Kubernetes ``clusterIPs``, ``lightmesh up --netns``'s
    service addresses): a connection to one at the service's port is a connection to it."""

    name: ServiceName
    endpoints: Mapping[SocketAddr, Endpoint] = field(default_factory=dict)
    cluster_ips: tuple[str, ...] = ()


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


def diff(held: Service | None, current: Service | None, first: bool = False) -> tuple[Update, ...]:
    """Updates from a client holding ``held`` to ``current`` (``None``: no such service).

    ``first``: the client holds nothing yet (``held`` is then ignored) and must be answered.
    """
    endpoints = current.endpoints if current is not None else {}
    before = held.endpoints if held is not None and not first else {}
    if not endpoints:
        exists = current is not None
        if first or before or (held is not None) != exists:
            return (NoEndpoints(exists),)
        return ()
    if before is endpoints:
        return ()
    added = sorted(a for a, e in endpoints.items() if before.get(a) != e)
    removed = sorted(a for a in before if a not in endpoints)
    updates: list[Update] = []
    if added:
        updates.append(Add(tuple(endpoints[a] for a in added)))
    if removed:
        updates.append(Remove(tuple(removed)))
    return tuple(updates)


class EndpointView:
    """The endpoint set one client holds; turns new service states into updates for it."""

    __slots__ = ("_held", "_started")

    def __init__(self) -> None:
        self._held: Service | None = None
        self._started = False

    def update(self, service: Service | None) -> list[Update]:
        """Updates that take the client from what it holds to ``service`` (``None``: unknown)."""
        updates = diff(self._held, service, first=not self._started)
        self._held, self._started = service, True
        return list(updates)
