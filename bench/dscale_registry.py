"""The destination scale bench's registry: generated services, churn changes, atomic writes.

Every endpoint has a number ``n`` and the address ``10.0.0.0 + BASE + n`` port 8080, so an
address names its endpoint: a client that sees an address in an ``add`` or a ``remove``
knows which change it was. ``--endpoints`` are spread evenly over ``--services``
(``svc-0000.bench``, ...), numbered 0 .. endpoints-1 at start.

A change is one endpoint added to or removed from one random service:

* an **add** uses a new number (endpoints, endpoints+1, ...): its address was never seen;
* a **remove** takes an endpoint that was there **at start** and is still there, never one
  added during the run, and never the last endpoint of a service. So no change undoes
  another (an add then a remove of the same address applied in one reload would show the
  client nothing), and a client always sees exactly one address event per change, never
  ``no_endpoints``. A service with no start-up endpoint left gets an add instead.

The YAML text is kept as one block per service; a change re-renders only its service's
block, so writing the file costs a join and a write, not a re-render of 10,000 lines.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "bench"
SERVICE_PORT = 80
ENDPOINT_PORT = 8080
BASE = int(ipaddress.IPv4Address("10.1.0.0"))  # endpoint n is 10.1.0.0 + n


def service_key(index: int, cluster_domain: str = "cluster.local") -> str:
    """The canonical name streams ask for: ``svc-0007.bench.svc.cluster.local:80``."""
    return f"svc-{index:04d}.{NAMESPACE}.svc.{cluster_domain}:{SERVICE_PORT}"


def address(n: int) -> str:
    return f"{ipaddress.IPv4Address(BASE + n)}:{ENDPOINT_PORT}"


def endpoint_of(ipv4: int) -> int:
    """The endpoint number of an address as the API carries it (big-endian ``fixed32``)."""
    return ipv4 - BASE


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    service: int
    kind: str  # "add" or "remove"
    endpoint: int

    def line(self) -> str:
        """The change as one line for the pipe source: ``add <service key> <address>``."""
        return f"{self.kind} {service_key(self.service)} {address(self.endpoint)}\n"


class Registry:
    """The services' current endpoints, the churn that changes them, and the YAML text."""

    def __init__(self, services: int, endpoints: int, seed: int = 1) -> None:
        if services < 1 or endpoints < services:
            raise ValueError("need at least one service and one endpoint per service")
        self.services = services
        self.members: list[dict[int, None]] = [{} for _ in range(services)]  # ordered sets
        for n in range(endpoints):
            self.members[n % services][n] = None
        self._originals = [list(m) for m in self.members]  # start-up endpoints still present
        self._next = endpoints
        self._rng = random.Random(seed)
        self._blocks = [self._render(i) for i in range(services)]

    @property
    def endpoint_count(self) -> int:
        return sum(len(m) for m in self.members)

    def text(self) -> str:
        return "services:\n" + "".join(self._blocks)

    def churn(self, seq: int) -> Change:
        """Make one change (see the module doc) and return it."""
        index = self._rng.randrange(self.services)
        originals = self._originals[index]
        removable = bool(originals) and len(self.members[index]) > 1
        if removable and self._rng.random() < 0.5:
            pick = self._rng.randrange(len(originals))
            originals[pick], originals[-1] = originals[-1], originals[pick]
            n = originals.pop()
            del self.members[index][n]
            change = Change(seq, index, "remove", n)
        else:
            n, self._next = self._next, self._next + 1
            self.members[index][n] = None
            change = Change(seq, index, "add", n)
        self._blocks[index] = self._render(index)
        return change

    def write(self, path: Path) -> None:
        """Replace ``path`` atomically: write a temporary file next to it, then rename."""
        write_atomically(path, self.text())

    def _render(self, index: int) -> str:
        head = f"  - name: svc-{index:04d}\n    namespace: {NAMESPACE}\n    port: {SERVICE_PORT}\n"
        members = self.members[index]
        if not members:
            return head + "    endpoints: []\n"
        return head + "    endpoints:\n" + "".join(f"      - address: {address(n)}\n" for n in members)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
