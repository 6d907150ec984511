"""The file discovery source: a YAML registry (``--registry``), reloaded when it changes.

:meth:`FileRegistrySource.load` reads and validates the file once (at start-up: a missing
or invalid registry stops the controller with the reasons). :meth:`~FileRegistrySource.run`
then reads the file every ``interval`` seconds and, when its bytes changed, parses it
again: a valid registry replaces the whole directory (streams get the differences), an
invalid one is logged with every problem, counted in ``registry_reload_errors_total`` and
ignored, so the last good state stays until the file is fixed. The same bad content is
reported once, not on every poll.

Comparing bytes rather than modification times catches edits that keep the size and land
within the file system's timestamp granularity. Editors that rewrite a file in place may
be read half-written; that is refused as invalid (or, rarely, applied and corrected on
the next poll), so writing the file atomically (write elsewhere, rename) is best.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from lightmesh.controller.directory import EndpointSink
from lightmesh.controller.endpoints import Service
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.registry import RegistryError, parse_registry
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

log = logging.getLogger(__name__)


class FileRegistrySource:
    name = "file"

    def __init__(
        self,
        path: Path,
        stats: ControllerStats,
        interval: float = 1.0,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    ) -> None:
        self.path = path
        self.stats = stats
        self.interval = interval
        self.cluster_domain = cluster_domain
        self._seen: bytes | None = None  # digest of the last content read, good or bad

    def load(self) -> dict[str, Service]:
        """Read and validate the registry now; raises ``RegistryError`` or ``OSError``."""
        data = self.path.read_bytes()
        self._seen = hashlib.sha256(data).digest()
        services = self._parse(data)
        self.stats.reloads += 1
        return services

    async def run(self, sink: EndpointSink) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll(sink)

    def poll(self, sink: EndpointSink) -> bool:
        """Reload if the file changed; True when a new registry was applied."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            return self._refuse(b"unreadable:" + str(exc).encode(), f"cannot read it: {exc}")
        digest = hashlib.sha256(data).digest()
        if digest == self._seen:
            return False
        try:
            services = self._parse(data)
        except RegistryError as exc:
            return self._refuse(digest, str(exc))
        self._seen = digest
        sink.replace_all(services)
        self.stats.reloads += 1
        endpoints = sum(len(s.endpoints) for s in services.values())
        log.info("registry %s reloaded: %d services, %d endpoints", self.path, len(services), endpoints)
        return True

    def _parse(self, data: bytes) -> dict[str, Service]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(str(self.path), [f"{self.path}: not UTF-8 text ({exc.reason})"]) from None
        return parse_registry(text, str(self.path), self.cluster_domain)

    def _refuse(self, seen: bytes, why: str) -> bool:
        if seen != self._seen:
            self._seen = seen
            self.stats.reload_errors += 1
            log.warning("registry %s not reloaded, keeping the last good state: %s", self.path, why)
        return False
