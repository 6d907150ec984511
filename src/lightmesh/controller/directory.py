"""The controller's view of every service, fed by discovery sources, watched by streams (sans-I/O).

Discovery sources push state into an :class:`EndpointSink`; :class:`Directory` is the one
the controller uses. A source either replaces everything it knows at once
(:meth:`~EndpointSink.replace_all`, the file registry after each reload) or reports one
service at a time (:meth:`~EndpointSink.set_service` after an initial list, then
:meth:`~EndpointSink.mark_synced`, the shape of a Kubernetes list-and-watch).

Streams :meth:`~Directory.watch` a service key (``str(ServiceName)``) with a callback
that is called, without arguments, whenever that service changes; the stream then reads
:meth:`~Directory.get` and diffs it against what its client holds. Callbacks only signal
(they set an event), so a slow stream sees the latest state instead of a queue of diffs.
Until the first sync, :attr:`~Directory.synced` is false and streams wait rather than
answer "no endpoints" for a service the source has not listed yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from lightmesh.controller.endpoints import Service


class EndpointSink(Protocol):
    """Where a discovery source reports services' endpoints."""

    def replace_all(self, services: Mapping[str, Service]) -> None:
        """The complete set of services now (keyed by ``str(ServiceName)``); marks synced."""

    def set_service(self, key: str, service: Service | None) -> None:
        """One service's new state; ``None``: the service no longer exists."""

    def mark_synced(self) -> None:
        """The source has reported every service it knows: streams may answer."""


class Directory:
    """Current services by key, and the callbacks watching each key."""

    def __init__(self) -> None:
        self._services: dict[str, Service] = {}
        self._watchers: dict[str, set[Callable[[], None]]] = {}
        self.synced = False

    def get(self, key: str) -> Service | None:
        return self._services.get(key)

    @property
    def service_count(self) -> int:
        return len(self._services)

    @property
    def endpoint_count(self) -> int:
        return sum(len(s.endpoints) for s in self._services.values())

    def watch(self, key: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify()`` whenever ``key`` changes (and at the first sync); returns the unwatch."""
        watchers = self._watchers.setdefault(key, set())
        watchers.add(notify)

        def unwatch() -> None:
            watchers.discard(notify)
            if not watchers and self._watchers.get(key) is watchers:
                del self._watchers[key]

        return unwatch

    def replace_all(self, services: Mapping[str, Service]) -> None:
        old, self._services = self._services, dict(services)
        if not self.synced:
            self.mark_synced()  # notifies every watcher
            return
        self._notify([k for k in old.keys() | self._services.keys() if old.get(k) != self._services.get(k)])

    def set_service(self, key: str, service: Service | None) -> None:
        before = self._services.get(key)
        if service is None:
            self._services.pop(key, None)
        else:
            self._services[key] = service
        if before != service:
            self._notify((key,))

    def mark_synced(self) -> None:
        if not self.synced:
            self.synced = True
            self._notify(tuple(self._watchers))

    def _notify(self, keys: Iterable[str]) -> None:
        for key in keys:
            for notify in tuple(self._watchers.get(key, ())):
                notify()
