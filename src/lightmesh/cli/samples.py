"""Metric samples as the stats commands use them: parsed from Prometheus text, diffed over a window.

A proxy's ``/metrics`` text becomes a list of :class:`Sample`. Two scrapes ``-t``
apart become one *window*: :func:`window` subtracts counters (a counter that went
down means the proxy restarted, so the later value is the increase) and keeps
gauges (``tcp_open_connections``) at their later value. Prometheus answers
(``increase(...[window])``) produce the same kind of list, so the arithmetic in
:mod:`lightmesh.cli.statmath` does not care where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
GAUGES = frozenset({"tcp_open_connections"})


class Sample(NamedTuple):
    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str:
        for k, v in self.labels:
            if k == key:
                return v
        return ""


def sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(name, tuple(sorted(labels.items())), value)


def parse(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition; ``ValueError`` when it is not one."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value)))
    return out


def window(before: Iterable[Sample], after: Iterable[Sample]) -> list[Sample]:
    """What happened between two scrapes of one proxy."""
    previous = {(s.name, s.labels): s.value for s in before}
    out = []
    for s in after:
        if s.name in GAUGES:
            out.append(s)
            continue
        old = previous.get((s.name, s.labels), 0.0)
        out.append(s._replace(value=s.value - old if s.value >= old else s.value))
    return out
