"""The controller's metrics: plain counters, exposed in Prometheus text at scrape time.

:class:`ControllerStats` holds plain ints updated by the destination service and the
discovery sources; :class:`ControllerCollector` (a prometheus-client ``Collector``)
turns them, and the directory's sizes, into metric families when ``/metrics`` is scraped:

* ``destination_subscriptions{rpc}``: Destination streams open (``get``, ``get_profile``);
* ``destination_updates_total{rpc, type}``: messages sent on them (``add``, ``remove``,
  ``no_endpoints``; ``profile``);
* ``registry_reloads_total{source}`` and ``registry_reload_errors_total{source}``: loads of
  the registry that were applied, and attempts that were refused (the last good state stays);
* ``registry_services{source}`` and ``registry_endpoints{source}``: what is known now;
* with ``--identity-dir``: ``identity_certify_total{outcome}`` (``ok`` or the gRPC status
  of a refusal) and ``identity_issuer_expiration_timestamp_seconds``;
* ``process_*`` from prometheus-client's process collector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lightmesh.controller.directory import Directory

RPCS = ("get", "get_profile")


class ControllerStats:
    __slots__ = ("certify", "issuer_expiry", "reload_errors", "reloads", "subscriptions", "updates")

    def __init__(self) -> None:
        self.subscriptions: Counter[str] = Counter(dict.fromkeys(RPCS, 0))
        self.updates: Counter[tuple[str, str]] = Counter()  # (rpc, type)
        self.reloads = 0
        self.reload_errors = 0
        self.certify: Counter[str] | None = None  # Identity.Certify outcomes, when identity is on
        self.issuer_expiry = 0.0

    @contextmanager
    def subscribed(self, rpc: str) -> Iterator[None]:
        """Count a stream of ``rpc`` as open while the block runs."""
        self.subscriptions[rpc] += 1
        try:
            yield
        finally:
            self.subscriptions[rpc] -= 1


class ControllerCollector(Collector):
    def __init__(self, stats: ControllerStats, directory: Directory, source: str) -> None:
        self.stats = stats
        self.directory = directory
        self.source = source

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        subs = GaugeMetricFamily("destination_subscriptions", "Destination streams open.", labels=["rpc"])
        for rpc, n in sorted(s.subscriptions.items()):
            subs.add_metric([rpc], n)
        updates = CounterMetricFamily(
            "destination_updates", "Messages sent on Destination streams.", labels=["rpc", "type"]
        )
        for (rpc, kind), n in sorted(s.updates.items()):
            updates.add_metric([rpc, kind], n)
        src = [self.source]
        reloads = CounterMetricFamily("registry_reloads", "Registry loads applied.", labels=["source"])
        reloads.add_metric(src, s.reloads)
        errors = CounterMetricFamily(
            "registry_reload_errors", "Registry loads refused (the last good state stays).", labels=["source"]
        )
        errors.add_metric(src, s.reload_errors)
        services = GaugeMetricFamily("registry_services", "Services known.", labels=["source"])
        services.add_metric(src, self.directory.service_count)
        endpoints = GaugeMetricFamily("registry_endpoints", "Endpoints known.", labels=["source"])
        endpoints.add_metric(src, self.directory.endpoint_count)
        families: list[Metric] = [subs, updates, reloads, errors, services, endpoints]
        if s.certify is not None:
            certify = CounterMetricFamily(
                "identity_certify", "Identity.Certify calls by outcome.", labels=["outcome"]
            )
            for outcome, n in sorted(s.certify.items()):
                certify.add_metric([outcome], n)
            expiry = GaugeMetricFamily(
                "identity_issuer_expiration_timestamp_seconds", "When the issuer certificate expires."
            )
            expiry.add_metric([], s.issuer_expiry)
            families += [certify, expiry]
        return families


def make_registry(stats: ControllerStats, directory: Directory, source: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ControllerCollector(stats, directory, source))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
