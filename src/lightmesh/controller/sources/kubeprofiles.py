"""``ServiceProfile`` resources (``lightmesh.io/v1alpha1``), listed then watched, into the profile book.

A ServiceProfile lives in its service's namespace and is named after the service, short
(``web``) or fully qualified (``web.default.svc.cluster.local``, Linkerd's convention);
its ``spec`` is the profile format of :mod:`lightmesh.controller.profiles` (routes,
retryBudget, allowOverrides). The CRD manifest is ``deploy/crds/serviceprofile.yaml``.

:class:`ProfileWatcher` lists every ServiceProfile across namespaces, puts the valid ones
in the :class:`~lightmesh.controller.profiles.ProfileBook`, then watches for changes. A
profile whose spec is invalid is logged with every problem, counted in
``registry_reload_errors_total`` and ignored: the service keeps its last good profile.
A deleted one is removed. When the API server does not serve the resource (the CRD is
not installed) the watcher says so once and looks again every ``CRD_RETRY`` seconds;
failed watches relist with backoff, as the other kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

import httpx2
import pydantic
from lightkube import AsyncClient
from lightkube.core.exceptions import NotReadyError

from lightmesh.controller.kubeobjects import Key, object_key
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.profiles import ProfileBody, ProfileBook
from lightmesh.controller.sources.kubewatch import WATCH_TIMEOUT, Backoff, resource, status_code

log = logging.getLogger(__name__)
SERVICE_PROFILES = resource("lightmesh.io", "v1alpha1", "ServiceProfile", "serviceprofiles")
CRD_RETRY = 30.0


def profile_of(obj: Mapping[str, Any], cluster_domain: str) -> tuple[Key, str, ProfileBody]:
    """(key, service host, validated spec) of a ServiceProfile; ``ValueError`` saying why not."""
    key = object_key(obj)
    if key is None:
        raise ValueError("no metadata.namespace or metadata.name")
    namespace, name = key
    suffix = f".{namespace}.svc.{cluster_domain}"
    service = name.removesuffix(suffix)
    if "." in service:
        raise ValueError(f"metadata.name {name!r} is neither a service name nor <service>{suffix}")
    try:
        body = ProfileBody.model_validate(obj.get("spec") or {})
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    return key, f"{service}{suffix}", body


class ProfileWatcher:
    def __init__(
        self, client: AsyncClient, book: ProfileBook, stats: ControllerStats, cluster_domain: str
    ) -> None:
        self.client, self.book, self.stats, self.cluster_domain = client, book, stats, cluster_domain
        self.hosts: dict[Key, str] = {}  # the profiles in the book, by object
        self.version: str | None = None

    async def run(self) -> None:
        backoff = Backoff()
        missing_logged = False
        while True:
            try:
                await self.list()
            except httpx2.HTTPStatusError as exc:
                if status_code(exc) != 404:
                    raise
                if not missing_logged:
                    log.info("kubernetes: ServiceProfile CRD not installed (404): no service profiles")
                    missing_logged = True
                await asyncio.sleep(CRD_RETRY)
                continue
            except Exception as exc:
                self.stats.reload_errors += 1
                log.warning("kubernetes: listing ServiceProfiles failed: %r", exc)
                await backoff.sleep()
                continue
            backoff.delay = backoff.first
            try:
                await self.follow()
            except Exception as exc:
                if status_code(exc) != 410:
                    self.stats.reload_errors += 1
                    log.warning("kubernetes: the ServiceProfile watch failed: %r; relisting", exc)
                await backoff.sleep()

    async def list(self) -> None:
        items = self.client.list(SERVICE_PROFILES, namespace="*", chunk_size=500)
        seen: set[Key] = set()
        async for obj in items:
            key = self.apply(obj)
            if key is not None:
                seen.add(key)
        for key in [k for k in self.hosts if k not in seen]:
            self.book.set_profile(self.hosts.pop(key), None)
        try:
            self.version = items.resourceVersion
        except NotReadyError:
            self.version = None

    async def follow(self) -> None:
        watch = self.client.watch(
            SERVICE_PROFILES, namespace="*", resource_version=self.version, server_timeout=WATCH_TIMEOUT
        )
        events = cast(AsyncGenerator[tuple[str, Mapping[str, Any]], None], watch)
        async with contextlib.aclosing(events):
            async for event, obj in events:
                meta = obj.get("metadata")
                if isinstance(meta, Mapping) and isinstance(meta.get("resourceVersion"), str):
                    self.version = meta["resourceVersion"]
                if event == "DELETED":
                    key = object_key(obj)
                    if key is not None and key in self.hosts:
                        self.book.set_profile(self.hosts.pop(key), None)
                elif event in ("ADDED", "MODIFIED"):
                    self.apply(obj)

    def apply(self, obj: Mapping[str, Any]) -> Key | None:
        """Put one ServiceProfile in the book; an invalid one is logged and changes nothing."""
        try:
            key, host, body = profile_of(obj, self.cluster_domain)
        except ValueError as exc:
            self.stats.reload_errors += 1
            where = object_key(obj) or ("?", "?")
            log.warning(
                "ServiceProfile %s/%s refused, keeping the last good profile: %s", where[0], where[1], exc
            )
            return where if where in self.hosts else None
        self.hosts[key] = host
        self.book.set_profile(host, body)
        return key
