"""Who is tapping this proxy: the :class:`TapHub` shared by both stacks' tap layers.

Each open ``Tap.Observe`` call is an :class:`Observer`: its compiled match tree, a
token bucket (``max_rps``), its request ``limit``, and a bounded queue of events
(a full queue drops events and counts them instead of slowing requests). The hub
keeps the observer list (empty: the layers do nothing), tells its watchers when the
first observer arrives and when the last one leaves (the proxy then swaps the stacks
it serves, see :func:`~lightmesh.proxy.layers.tap.serve_tapped`), keeps the proxy's own
labels (``namespace``, ``service``, ``pod``) and the headers to redact, and describes
each tapped request once as :class:`~lightmesh.proxy.tapmatch.Facts`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lightmesh.core.addr import SocketAddr, is_ip, split_host_port
from lightmesh.core.names import normalize
from lightmesh.core.ratelimit import TokenBucket
from lightmesh.protocol.messages import Request
from lightmesh.protocol.prometheus import Family
from lightmesh.proxy.tapmatch import Facts, Predicate

if TYPE_CHECKING:
    from lightmesh.api.gen.tap_pb2 import TapEvent as Event

ALWAYS_REDACTED = frozenset({b"authorization", b"cookie", b"set-cookie", b"proxy-authorization"})
REDACTED = b"[redacted]"
QUEUE_SIZE = 10_000
DEFAULT_MAX_RPS = 100.0


class Observer:
    """One open tap: what it matches, how many requests it may take, where events go."""

    __slots__ = ("bucket", "dropped", "limit", "pending", "predicate", "queue", "seen", "settled")

    def __init__(self, predicate: Predicate, max_rps: float, limit: int, now: float) -> None:
        self.predicate = predicate
        self.bucket = TokenBucket(max_rps or DEFAULT_MAX_RPS, now=now)
        self.limit = limit
        self.seen = 0
        self.pending = 0  # requests taken whose response has not ended
        self.dropped = 0
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)  # None: wake up, settled
        self.settled = asyncio.Event()  # set when the limit was reached and nothing is pending

    @property
    def full(self) -> bool:
        return bool(self.limit) and self.seen >= self.limit

    def offer(self, facts: Facts, now: float) -> bool:
        if self.full or not self.predicate(facts) or not self.bucket.admit(now):
            return False
        self.seen += 1
        self.pending += 1
        return True

    def push(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def finished_one(self) -> None:
        self.pending -= 1
        if self.full and self.pending == 0:
            self.settled.set()
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:  # the reader drains the queue, then sees ``settled``
                pass


class TapHub:
    """The proxy's taps and what it knows about itself (labels, redaction, ids)."""

    def __init__(
        self,
        own_labels: dict[str, str],
        redact: Iterable[str] = (),
        inbound_dst: SocketAddr | None = None,
    ) -> None:
        self.observers: list[Observer] = []  # empty: nobody taps, the layer does nothing
        self.own = dict(own_labels)
        self.namespace = self.own.get("namespace", "default")
        self.proxy_name = f"{self.namespace}/{self.own.get('pod', '')}"
        self.redact = ALWAYS_REDACTED | {name.strip().lower().encode() for name in redact if name.strip()}
        self.inbound_dst = inbound_dst
        self.base = random.getrandbits(32)
        self.stream = 0
        self.dropped = 0  # events dropped by observers that have ended
        self.watchers: list[Callable[[bool], None]] = []  # told True: first observer; False: none left

    def add(self, observer: Observer) -> None:
        self.observers = [*self.observers, observer]  # copied: requests may be iterating the old list
        if len(self.observers) == 1:
            self._tell(True)

    def remove(self, observer: Observer) -> None:
        before = len(self.observers)
        self.observers = [o for o in self.observers if o is not observer]
        self.dropped += observer.dropped
        if before and not self.observers:
            self._tell(False)

    def _tell(self, tapping: bool) -> None:
        for watcher in self.watchers:
            watcher(tapping)

    def families(self) -> list[Family]:
        """``tap_observers`` (open taps) and ``tap_events_dropped_total``, at scrape time."""
        observers = Family("tap_observers", "gauge", "Tap.Observe calls open on this proxy")
        observers.add([], len(self.observers))
        dropped = Family("tap_events_dropped_total", "counter", "Tap events dropped for slow observers")
        dropped.add([], self.dropped + sum(o.dropped for o in self.observers))
        return [observers, dropped]

    def facts(self, request: Request, direction: str) -> Facts:
        conn = request.conn
        src = conn.peer if conn is not None else ("", 0)
        authority = request.authority.decode("latin-1") if request.authority else ""
        path = request.path.decode("latin-1")
        facts = Facts(
            src[0],
            src[1],
            "",
            0,
            request.method.decode("latin-1"),
            "https" if path.startswith("https://") else "http",
            authority,
            path,
        )
        if conn is not None and conn.tls:
            facts.src_meta["tls"] = "true"
        if direction == "inbound":
            dst = self.inbound_dst or (
                SocketAddr(*conn.orig_dst) if conn is not None and conn.orig_dst else None
            )
            facts.dst_meta.update(self.own)
        else:
            dst = (
                SocketAddr(*conn.orig_dst) if conn is not None and conn.redirected and conn.orig_dst else None
            )
            facts.src_meta.update(self.own)
            facts.dst_meta.update(self._authority_meta(authority))
            if dst is None and authority:
                dst = _authority_addr(authority)
        if dst is not None:
            facts.dst_ip, facts.dst_port = dst.host, dst.port
        return facts

    def _authority_meta(self, authority: str) -> dict[str, str]:
        meta = {"authority": authority} if authority else {}
        try:
            name = normalize(authority if ":" in authority else f"{authority}:80", self.namespace)
        except ValueError:
            name = None
        if name is not None:
            meta["service"], meta["namespace"] = name.name, name.namespace
        return meta


def _authority_addr(authority: str) -> SocketAddr | None:
    try:
        host, port = split_host_port(authority, 80)
    except ValueError:
        return None
    return SocketAddr(host if is_ip(host) else "", port)
