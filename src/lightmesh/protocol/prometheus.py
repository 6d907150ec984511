"""The Prometheus text exposition format (version 0.0.4), written without a client library.

The proxy keeps its counters as plain ints and renders them here at scrape time.
It does not import prometheus-client: that package pulls in ``http.server``,
``wsgiref`` and friends, about 4 MB of resident memory that a sidecar on a 30 MB
budget cannot spare. The tests check this output with prometheus-client's parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

Labels = Sequence[tuple[str, str]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Family:
    """One metric family: a name, a type, help text and its samples."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.lines: list[str] = []

    def add(self, labels: Labels, value: float) -> None:
        self.lines.append(f"{self.name}{_labels(labels)} {_number(value)}")

    def add_histogram(self, labels: Labels, buckets: Iterable[tuple[str, int]], total: float) -> None:
        count = 0
        for le, count in buckets:
            self.lines.append(f"{self.name}_bucket{_labels([*labels, ('le', le)])} {count}")
        self.lines.append(f"{self.name}_sum{_labels(labels)} {_number(total)}")
        self.lines.append(f"{self.name}_count{_labels(labels)} {count}")

    def render(self) -> str:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        head = f"# HELP {self.name} {help_text}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.lines)


def render(families: Iterable[Family]) -> bytes:
    return "".join(family.render() for family in families).encode()
