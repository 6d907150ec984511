"""List-and-watch of one Kubernetes resource kind, across all namespaces, with lightkube.

A :class:`KindWatch` keeps one kind (Services, EndpointSlices, Endpoints or Pods) of a
:class:`~lightmesh.controller.kubestate.KubeState` up to date. :meth:`~KindWatch.list`
lists the kind and applies it as a difference (a 404 raises :class:`NotServed`: the API
server does not serve that version), remembering the list's ``resourceVersion``.
:meth:`~KindWatch.run` then watches from that version; every event updates the state,
which reports the affected services to the sink.

* A watch the server ends normally (its ``timeoutSeconds``, :data:`WATCH_TIMEOUT`) is
  resumed by lightkube from the last version seen. One quiet for longer than that (a dead
  connection) is restarted here from the last version.
* A watch that fails, with 410 Gone (its version expired) or any other error, is
  followed by a relist applied as a difference: only what changed meanwhile is reported,
  never a spurious removal. Failures back off from 0.2 s to 30 s; a watch that ran
  :data:`HEALTHY_AFTER` seconds first starts again at 0.2 s.

Objects are decoded as plain dicts (lightkube generic resources), so one parser reads an
EndpointSlice of ``v1`` and of ``v1beta1`` alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError, NotReadyError
from lightkube.core.resource import ApiInfo, ResourceDef
from lightkube.generic_resource import GenericNamespacedResource

from lightmesh.controller.directory import EndpointSink
from lightmesh.controller.kubeobjects import Key, object_key
from lightmesh.controller.kubestate import KubeState
from lightmesh.controller.metrics import ControllerStats

log = logging.getLogger(__name__)
T = TypeVar("T")
WATCH_TIMEOUT = 300  # seconds: timeoutSeconds of each watch request
HEALTHY_AFTER = 10.0  # seconds


def resource(group: str, version: str, kind: str, plural: str) -> type[GenericNamespacedResource]:
    """A lightkube resource whose objects decode as dicts (not in lightkube's global registry)."""
    verbs = ["global_list", "global_watch", "list", "watch"]
    info = ApiInfo(resource=ResourceDef(group, version, kind), plural=plural, verbs=verbs)
    return type(kind, (GenericNamespacedResource,), {"_api_info": info})


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    label: str  # for logs: "v1 Services"
    resource: type[GenericNamespacedResource]
    parse: Callable[[Mapping[str, Any]], T | None]
    apply: Callable[[Key, T | None], set[Key]]  # one change -> services affected
    replace: Callable[[Mapping[Key, T]], set[Key]]  # a whole list -> services affected


class NotServed(Exception):
    """The API server answered 404 to a list: it does not serve that resource version."""


def status_code(exc: BaseException) -> int | None:
    if isinstance(exc, ApiError) and exc.status is not None and exc.status.code:
        return int(exc.status.code)  # also an ERROR event in a watch stream
    if isinstance(exc, httpx2.HTTPStatusError) and exc.response is not None:
        return exc.response.status_code
    return None


class Backoff:
    def __init__(self, first: float = 0.2, cap: float = 30.0) -> None:
        self.first, self.cap, self.delay = first, cap, first

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)


class KindWatch(Generic[T]):
    def __init__(
        self, client: AsyncClient, kind: Kind[T], state: KubeState, sink: EndpointSink, stats: ControllerStats
    ) -> None:
        self.client, self.kind, self.state, self.sink, self.stats = client, kind, state, sink, stats
        self.version: str | None = None

    async def list(self) -> set[Key]:
        """List the kind and apply it; returns the services affected."""
        items = self.client.list(self.kind.resource, namespace="*", chunk_size=500)
        fresh: dict[Key, T] = {}
        try:
            async for obj in items:
                key, parsed = object_key(obj), self.kind.parse(obj)
                if key is not None and parsed is not None:
                    fresh[key] = parsed
        except httpx2.HTTPStatusError as exc:
            if status_code(exc) == 404:
                raise NotServed(f"{self.kind.label}: 404 Not Found") from None
            raise
        affected = self.kind.replace(fresh)
        try:
            self.version = items.resourceVersion
        except NotReadyError:  # none given: the watch starts from the current state
            self.version = None
        return affected

    async def run(self) -> None:
        """Watch until cancelled, relisting after every failure."""
        backoff = Backoff()
        while True:
            began = time.monotonic()
            try:
                await self._follow()
                continue  # quiet for too long: watch again from the last version
            except Exception as exc:
                if time.monotonic() - began >= HEALTHY_AFTER:
                    backoff.delay = backoff.first
                if status_code(exc) == 410:
                    log.info("kubernetes: the %s watch expired (410 Gone): relisting", self.kind.label)
                else:
                    self.stats.reload_errors += 1
                    log.warning("kubernetes: the %s watch failed: %r; relisting", self.kind.label, exc)
            while True:
                await backoff.sleep()
                try:
                    affected = await self.list()
                except Exception as exc:
                    self.stats.reload_errors += 1
                    log.warning("kubernetes: listing %s failed: %r", self.kind.label, exc)
                    continue
                self.state.publish(self.sink, affected)
                self.stats.reloads += 1
                break

    async def _follow(self) -> None:
        """Apply the events of one watch; returns when it was quiet for too long."""
        loop, limit = asyncio.get_running_loop(), WATCH_TIMEOUT + 30
        watch = self.client.watch(
            self.kind.resource, namespace="*", resource_version=self.version, server_timeout=WATCH_TIMEOUT
        )
        events = cast(AsyncGenerator[tuple[str, Mapping[str, Any]], None], watch)
        with contextlib.suppress(TimeoutError):
            async with contextlib.aclosing(events), asyncio.timeout(limit) as quiet:
                async for event, obj in events:
                    quiet.reschedule(loop.time() + limit)
                    meta = obj.get("metadata")
                    if isinstance(meta, Mapping) and isinstance(meta.get("resourceVersion"), str):
                        self.version = meta["resourceVersion"]
                    key = object_key(obj)
                    if key is None or event not in ("ADDED", "MODIFIED", "DELETED"):
                        continue  # BOOKMARK
                    parsed = None if event == "DELETED" else self.kind.parse(obj)
                    self.state.publish(self.sink, self.kind.apply(key, parsed))
