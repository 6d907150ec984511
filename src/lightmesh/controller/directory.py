"""The controller's view of every service, fed by discovery sources, watched by streams (sans-I/O).

Discovery sources push state into an :class:`EndpointSink`; :class:`Directory` is the one
the controller uses. A source either replaces everything it knows at once
(:meth:`~EndpointSink.replace_all`, the file registry after each reload) or reports one
service at a time (:meth:`~EndpointSink.set_service` after an initial list, then
:meth:`~EndpointSink.mark_synced`, the shape of a Kubernetes list-and-watch).

Streams :meth:`~Directory.watch` a service key (``str(ServiceName)``) with a callback that
is called, without arguments, whenever that service changes; the stream then asks
:meth:`~Directory.catch_up` for what its client misses. Each watched service has a
version, bumped by every change; a stream's :class:`Cursor` is the version it was last
brought to and that state. The :class:`Delta` from one version to the current one is
computed once (:func:`~lightmesh.controller.endpoints.diff`) and the same object is handed
to every stream at that version, so the streams of a service share one diff (and the
destination service one encoding) per change. Callbacks only signal (they set an event),
so a slow stream catches up from its version straight to the latest state instead of
going through a queue of diffs. Until the first sync, :attr:`~Directory.synced` is false
and ``catch_up`` answers nothing rather than "no endpoints" for a service the source has
not listed yet.

A key may also be an address (``str(SocketAddr)``, e.g. ``10.0.0.5:6379``): what a proxy
asks for a connection redirected to an IP. A service's virtual address (a cluster IP at
its port) is the service itself. Any other address is looked up among the endpoints: a
one-endpoint :class:`Service` (the service listing that address; the first by key when
several do), or ``None`` when no service lists it. A change to a service also changes
its virtual addresses' keys and the address keys of the endpoints it gained, lost or
changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lightmesh.controller.endpoints import Service, Update, diff
from lightmesh.core.addr import SocketAddr


class EndpointSink(Protocol):
    """Where a discovery source reports services' endpoints."""

    def replace_all(self, services: Mapping[str, Service]) -> None:
        """The complete set of services now (keyed by ``str(ServiceName)``); marks synced."""

    def set_service(self, key: str, service: Service | None) -> None:
        """One service's new state; ``None``: the service no longer exists."""

    def mark_synced(self) -> None:
        """The source has reported every service it knows: streams may answer."""


@dataclass(eq=False, slots=True, weakref_slot=True)
class Delta:
    """The updates that take a client from one version of a service to the current one."""

    updates: tuple[Update, ...]


@dataclass(slots=True)
class Cursor:
    """Where one stream is: the version of its service it was last brought to, and that state."""

    version: int = -1  # -1: nothing sent yet
    held: Service | None = None


@dataclass(slots=True)
class _Feed:
    """A watched service: its watchers, its version, the deltas to it by starting version."""

    version: int
    watchers: set[Callable[[], None]] = field(default_factory=set)
    deltas: dict[int, Delta] = field(default_factory=dict)


class Directory:
    """Current services by key, and the streams watching each key."""

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._owners: dict[str, dict[str, SocketAddr]] = {}  # address key -> service keys listing it
        self._virtual: dict[str, str] = {}  # a cluster IP's address key -> its service's key
        self._feeds: dict[str, _Feed] = {}
        self._version = 0  # the last version given to any feed
        self.synced = False

    def get(self, key: str) -> Service | None:
        """A service by key, or the one-endpoint view of an address key; ``None``: unknown."""
        service = self._services.get(key)
        if service is not None:
            return service
        if (virtual := self._virtual.get(key)) is not None:
            return self._services[virtual]
        owners = self._owners.get(key)
        if not owners:
            return None
        owner = min(owners)
        addr = owners[owner]
        found = self._services[owner]
        return Service(found.name, {addr: found.endpoints[addr]})

    def services(self) -> list[Service]:
        """Every current service (a snapshot)."""
        return list(self._services.values())

    @property
    def service_count(self) -> int:
        return len(self._services)

    @property
    def endpoint_count(self) -> int:
        return sum(len(s.endpoints) for s in self._services.values())

    def watch(self, key: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify()`` whenever ``key`` changes (and at the first sync); returns the unwatch."""
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = _Feed(self._version)
        feed.watchers.add(notify)

        def unwatch() -> None:
            feed.watchers.discard(notify)
            if not feed.watchers and self._feeds.get(key) is feed:
                del self._feeds[key]

        return unwatch

    def catch_up(self, key: str, cursor: Cursor) -> Delta | None:
        """What a stream watching ``key`` misses since ``cursor``, which moves to now.

        ``None`` when it misses nothing or the directory has not synced yet. The delta is
        shared: every stream at the same version gets the same object.
        """
        feed = self._feeds[key]
        if not self.synced or cursor.version == feed.version:
            return None
        current = self.get(key)
        delta = feed.deltas.get(cursor.version)
        if delta is None:
            delta = feed.deltas[cursor.version] = Delta(diff(cursor.held, current, cursor.version < 0))
        cursor.version, cursor.held = feed.version, current
        return delta

    def replace_all(self, services: Mapping[str, Service]) -> None:
        old, self._services = self._services, dict(services)
        new = self._services
        changed = [k for k in old.keys() | new.keys() if not _same(old.get(k), new.get(k))]
        addrs = [a for k in changed for a in self._reindex(k, old.get(k), new.get(k))]
        self._changed((*changed, *addrs), self.synced)
        self.mark_synced()  # notifies every watcher the first time

    def set_service(self, key: str, service: Service | None) -> None:
        before = self._services.get(key)
        if service is None:
            self._services.pop(key, None)
        else:
            self._services[key] = service
        if not _same(before, service):
            self._changed((key, *self._reindex(key, before, service)))

    def _reindex(self, key: str, before: Service | None, after: Service | None) -> list[str]:
        """Move service ``key``'s endpoints in the address index; return the address keys it changed."""
        changed = [*self._move_virtual(key, before, after)]
        old = before.endpoints if before is not None else {}
        new = after.endpoints if after is not None else {}
        for addr in old.keys() - new.keys():
            akey = str(addr)
            owners = self._owners[akey]
            del owners[key]
            if not owners:
                del self._owners[akey]
            changed.append(akey)
        for addr, endpoint in new.items():
            if old.get(addr) != endpoint:
                akey = str(addr)
                self._owners.setdefault(akey, {})[key] = addr
                changed.append(akey)
        return changed

    def _move_virtual(self, key: str, before: Service | None, after: Service | None) -> list[str]:
        """Point service ``key``'s virtual addresses at it; return their keys (old and new)."""
        keys = []
        if before is not None:
            for ip in before.cluster_ips:
                vkey = str(SocketAddr(ip, before.name.port))
                if self._virtual.get(vkey) == key:
                    del self._virtual[vkey]
                keys.append(vkey)
        if after is not None:
            for ip in after.cluster_ips:
                vkey = str(SocketAddr(ip, after.name.port))
                self._virtual[vkey] = key
                keys.append(vkey)
        return keys

    def mark_synced(self) -> None:
        if not self.synced:
            self.synced = True
            for feed in tuple(self._feeds.values()):
                _notify(feed)

    def _changed(self, keys: Iterable[str], notify: bool = True) -> None:
        for key in keys:
            if (feed := self._feeds.get(key)) is not None:
                self._version += 1
                feed.version = self._version
                feed.deltas.clear()
                if notify:
                    _notify(feed)


def _same(a: Service | None, b: Service | None) -> bool:
    return a is b or a == b


def _notify(feed: _Feed) -> None:
    for notify in tuple(feed.watchers):
        notify()
