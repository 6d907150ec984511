"""Discovery sources: where the controller learns services and their endpoints.

Every source has the same shape, :class:`DiscoverySource`: ``run(sink)`` reports services
to an :class:`~lightmesh.controller.directory.EndpointSink` until it is cancelled. A
source that reads a whole snapshot at a time (the file registry,
:mod:`lightmesh.controller.sources.file`) calls ``replace_all``; a watch-based source (a
Kubernetes list-and-watch of Services and EndpointSlices,
:mod:`lightmesh.controller.sources.kubernetes`) lists, calls ``set_service`` per service
and ``mark_synced`` once, then ``set_service`` per watch event. The destination service
only reads the directory, so it does not know which source fed it. A source whose
configuration cannot be used raises :class:`SourceError` before the controller listens.
"""

from __future__ import annotations

from typing import Protocol

from lightmesh.controller.directory import EndpointSink


class SourceError(Exception):
    """A discovery source that cannot start (its configuration is unusable); says why."""


class DiscoverySource(Protocol):
    #: names the source in logs and in the ``source`` label of the registry metrics
    name: str

    async def run(self, sink: EndpointSink) -> None:
        """Report services to ``sink`` until cancelled."""
