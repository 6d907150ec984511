"""The file discovery source: a YAML registry (``--registry``), reloaded when it changes.

:meth:`FileRegistrySource.load` reads and validates the file once (at start-up: a missing
or invalid registry stops the controller with the reasons). :meth:`~FileRegistrySource.run`
then reads the file every ``interval`` seconds and, when its bytes changed, parses it
again: a valid registry replaces the whole directory (streams get the differences) and
the service profiles (its ``profiles:`` section, in a :class:`ProfileBook`), an
invalid one is logged with every problem, counted in ``registry_reload_errors_total`` and
ignored, so the last good state stays until the file is fixed. The same bad content is
reported once, not on every poll.

A reload costs what changed: :class:`~lightmesh.controller.registryblocks.RegistryParser`
re-reads only the services whose YAML block is new, and unchanged services stay the same
objects, so the directory compares and notifies only the changed ones. The read, the
digest and the parse run in a worker thread (``asyncio.to_thread``), so a reload that
still takes long (the first after a restructuring edit, an invalid file and its
line-numbered report) does not stop the event loop from serving streams meanwhile.

Comparing bytes rather than modification times catches edits that keep the size and land
within the file system's timestamp granularity. Editors that rewrite a file in place may
be read half-written; that is refused as invalid (or, rarely, applied and corrected on
the next poll), so writing the file atomically (write elsewhere, rename) is best.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lightmesh.controller.directory import EndpointSink
from lightmesh.controller.endpoints import Service
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.profiles import ProfileBody, ProfileBook
from lightmesh.controller.registry import RegistryError
from lightmesh.controller.registryblocks import RegistryParser
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Read:
    """A changed file: its digest, and its services or why it cannot be used."""

    digest: bytes
    services: dict[str, Service] | None
    problem: str = ""
    profiles: dict[str, ProfileBody] = field(default_factory=dict)


class FileRegistrySource:
    name = "file"

    def __init__(
        self,
        path: Path,
        stats: ControllerStats,
        interval: float = 1.0,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        profiles: ProfileBook | None = None,
    ) -> None:
        self.path = path
        self.profiles = profiles if profiles is not None else ProfileBook()
        self.stats = stats
        self.interval = interval
        self.cluster_domain = cluster_domain
        self._seen: bytes | None = None  # digest of the last content read, good or bad
        self._parser = RegistryParser(cluster_domain)

    def load(self) -> dict[str, Service]:
        """Read and validate the registry now; raises ``RegistryError`` or ``OSError``."""
        data = self.path.read_bytes()
        self._seen = hashlib.sha256(data).digest()
        services = self._parse(data)
        self.profiles.replace_all(self._parser.profiles)
        self.stats.reloads += 1
        return services

    async def run(self, sink: EndpointSink) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._apply(sink, await asyncio.to_thread(self._read))

    def poll(self, sink: EndpointSink) -> bool:
        """Reload if the file changed; True when a new registry was applied."""
        return self._apply(sink, self._read())

    def _read(self) -> _Read | None:
        """The file if it changed since the last read (``None``: unchanged); no side effects."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            return _Read(b"unreadable:" + str(exc).encode(), None, f"cannot read it: {exc}")
        digest = hashlib.sha256(data).digest()
        if digest == self._seen:
            return None
        try:
            services = self._parse(data)
            return _Read(digest, services, profiles=self._parser.profiles)
        except RegistryError as exc:
            return _Read(digest, None, str(exc))

    def _apply(self, sink: EndpointSink, read: _Read | None) -> bool:
        if read is None or read.digest == self._seen:
            return False
        self._seen = read.digest
        if read.services is None:
            self.stats.reload_errors += 1
            log.warning("registry %s not reloaded, keeping the last good state: %s", self.path, read.problem)
            return False
        sink.replace_all(read.services)
        self.profiles.replace_all(read.profiles)
        self.stats.reloads += 1
        endpoints = sum(len(s.endpoints) for s in read.services.values())
        log.info(
            "registry %s reloaded: %d services, %d endpoints, %d profiles (%d services re-read)",
            self.path,
            len(read.services),
            endpoints,
            len(read.profiles),
            self._parser.reread,
        )
        return True

    def _parse(self, data: bytes) -> dict[str, Service]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(str(self.path), [f"{self.path}: not UTF-8 text ({exc.reason})"]) from None
        return self._parser.parse(text, str(self.path))
