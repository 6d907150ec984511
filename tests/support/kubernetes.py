"""A fake Kubernetes API server for the controller's tests: kmock's emulator, in a thread.

kmock's ``KubernetesEmulator`` keeps objects in memory and serves list, watch, create,
patch and delete over HTTP (aiohttp) on a loopback port. :class:`FakeKubernetes` runs it
on its own event loop in a daemon thread, so synchronous tests, and a controller in
another process, can use it. :meth:`~FakeKubernetes.create`, :meth:`~FakeKubernetes.patch`
and :meth:`~FakeKubernetes.delete` go through its HTTP API, so every open watch sees the
change, as with a real API server. Every call waits at most :data:`TIMEOUT` seconds.

What kmock does not emulate, and how this module stands in:

* resource versions: lists answer ``"..."`` and objects carry none; a watch first sends
  ``ADDED`` for every stored object (as a watch without a version does), then changes;
* API versions: a resource is served only when declared (``served``) or when it holds
  objects; any other list answers 404, which is how the source's fallbacks are tested;
* watch expiry: :meth:`~FakeKubernetes.expire_watches` puts an ``ERROR`` event with a 410
  ``Status`` on the resource's open watches (kmock's event bus, a private attribute: kmock
  has no public way to end a running watch), as an API server does when a watch's
  version was compacted;
* changes a watch missed: :meth:`~FakeKubernetes.patch_unseen` and
  :meth:`~FakeKubernetes.delete_unseen` edit the stored objects without an event, so
  only a relist can see them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import kmock

T = TypeVar("T")
TIMEOUT = 10.0
SERVICES = "v1/services"
PODS = "v1/pods"
ENDPOINTS = "v1/endpoints"
SLICES = "discovery.k8s.io/v1/endpointslices"
SLICES_V1BETA1 = "discovery.k8s.io/v1beta1/endpointslices"
GONE = {
    "apiVersion": "v1",
    "kind": "Status",
    "metadata": {},
    "status": "Failure",
    "code": 410,
    "reason": "Expired",
    "message": "too old resource version",
}


def _path(resource: str, namespace: str, name: str | None = None) -> str:
    *group_version, plural = resource.split("/")
    root = "/api/v1" if group_version == ["v1"] else "/apis/" + "/".join(group_version)
    return f"{root}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


class FakeKubernetes:
    def __init__(self, served: Iterable[str] = (SERVICES, PODS, SLICES)) -> None:
        self.served = tuple(served)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-kubernetes", daemon=True)
        self.api: Any = None
        self._server: Any = None

    def __enter__(self) -> FakeKubernetes:
        self._thread.start()
        self._call(self._open())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call(self._close(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()

    async def _open(self) -> None:
        self.api = kmock.KubernetesEmulator()
        await self.api.__aenter__()
        self._server = kmock.Server(self.api)
        await self._server.__aenter__()
        for resource in self.served:
            self.api.resources[resource] = {}

    async def _close(self) -> None:
        await self._server.__aexit__(None, None, None)
        await self.api.__aexit__(None, None, None)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def url(self) -> str:
        return str(self._server.url).rstrip("/")

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for this server (plain HTTP, a dummy token), as JSON (valid YAML)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "test"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        async with self.api.request(method, path, json=body) as response:
            text = await response.text()
            assert response.status < 300, f"{method} {path}: {response.status} {text}"
            return json.loads(text)

    def serve(self, resource: str) -> None:
        """Start serving ``resource`` (lists of it stop answering 404)."""

        async def declare() -> None:
            self.api.resources[resource] = {}

        self._call(declare())

    def create(self, resource: str, obj: dict[str, Any]) -> None:
        self._call(self._request("POST", _path(resource, obj["metadata"]["namespace"]), obj))

    def patch(self, resource: str, namespace: str, name: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the object (lists are replaced whole)."""
        self._call(self._request("PATCH", _path(resource, namespace, name), changes))

    def delete(self, resource: str, namespace: str, name: str) -> None:
        self._call(self._request("DELETE", _path(resource, namespace, name)))

    def expire_watches(self, resource: str) -> None:
        """End the open watches of ``resource`` with 410 Gone."""

        async def expire() -> None:
            await self.api._buses[kmock.resource(resource)].put({"type": "ERROR", "object": GONE})

        self._call(expire())

    def patch_unseen(self, resource: str, namespace: str, name: str, changes: dict[str, Any]) -> None:
        """Change the stored object without telling the watches."""

        async def patch() -> None:
            self.api.objects[resource, namespace, name].patch(changes)

        self._call(patch())

    def delete_unseen(self, resource: str, namespace: str, name: str) -> None:
        async def delete() -> None:
            self.api.objects[resource, namespace, name].delete()

        self._call(delete())

    def requests(self, action: str, resource: str) -> int:
        """How many ``list`` or ``watch`` requests of ``resource`` arrived so far."""
        wanted, kind = kmock.action(action.upper()), kmock.resource(resource)

        async def count() -> int:
            return sum(1 for r in self.api if r.action == wanted and r.resource == kind)

        return self._call(count())
