"""The proxies the controller knows: one entry per open ``Registry.Announce`` call.

:class:`ProxyList` is plain data (no I/O): :class:`~lightmesh.controller.announce.RegistryService`
adds an entry when a proxy announces itself and removes it when that call ends, so the
list is always the set of live proxies. Two calls with the same namespace and pod (a
proxy that reconnected before the controller noticed the old call broke) are both kept;
the newest one is listed. :meth:`ProxyList.watch` registers a callback run after every
change (a running tap uses it to reach proxies that announce later).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from lightmesh.api.gen import public_pb2 as pb
from lightmesh.core.resources import ProxyIdentity, Resource, selects


def identity(info: pb.ProxyInfo) -> ProxyIdentity:
    return ProxyIdentity(info.namespace, info.service, info.pod)


class ProxyList:
    def __init__(self) -> None:
        self._entries: dict[int, pb.ProxyInfo] = {}
        self._ids = itertools.count(1)
        self._watchers: list[Callable[[], None]] = []

    def add(self, info: pb.ProxyInfo) -> int:
        key = next(self._ids)
        self._entries[key] = info
        self._changed()
        return key

    def remove(self, key: int) -> None:
        if self._entries.pop(key, None) is not None:
            self._changed()

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after every change; returns the function that stops it."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._watchers):
            callback()

    def __len__(self) -> int:
        return len(self.all())

    def all(self, namespace: str = "") -> list[pb.ProxyInfo]:
        """Live proxies (the newest entry per namespace/pod), sorted by namespace, service, pod."""
        newest: dict[tuple[str, str], pb.ProxyInfo] = {}
        for info in self._entries.values():  # insertion order: later entries are newer
            newest[info.namespace, info.pod] = info
        found = (i for i in newest.values() if not namespace or i.namespace == namespace)
        return sorted(found, key=lambda i: (i.namespace, i.service, i.pod))

    def select(self, resource: Resource, namespace: str) -> Iterator[pb.ProxyInfo]:
        return (info for info in self.all() if selects(resource, namespace, identity(info)))
