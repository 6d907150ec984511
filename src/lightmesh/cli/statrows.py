"""The rows of ``lightmesh stat``, ``routes`` and ``edges`` from proxies and their samples (pure).

Inputs: the announced proxies (:class:`Proxy`), each proxy's samples (a window for
stat and routes, cumulative for edges), and for MESHED the endpoint counts the
discovery source knows per service. Rules, after Linkerd:

* ``stat TYPE`` rows are the resources of TYPE (service, pod or namespace); each
  row sums its proxies' **inbound** traffic, and TCP_CONN their inbound connections.
* ``--to RES``: each row sums its proxies' **outbound** traffic to RES (the
  controller's ``dst_service``/``dst_pod``/``dst_namespace`` labels).
* ``--from RES``: rows are the resources of TYPE that RES's proxies sent traffic
  to, measured at RES's outbound side; rows without traffic are left out.
* MESHED is announced proxies over known instances (the larger of the announced
  count and the discovery source's endpoints).
* ``routes``: one row per ``rt_route`` of the ``route_*`` metrics, plus
  ``[DEFAULT]`` for traffic no route counted; with no route metrics at all, one
  ``[DEFAULT]`` row from the plain metrics.
* ``edges``: an edge per (source, destination) with outbound requests; SECURED
  when every series of the edge was TLS.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lightmesh.cli.samples import Sample
from lightmesh.cli.statmath import Filter, Golden, golden
from lightmesh.core.resources import NAMESPACE, POD, SERVICE, ProxyIdentity, Resource, name_of, selects

Windows = Mapping[tuple[str, str], list[Sample]]  # (namespace, pod) -> samples
DST_LABEL = {SERVICE: "dst_service", POD: "dst_pod", NAMESPACE: "dst_namespace"}
DEFAULT_ROUTE = "[DEFAULT]"


@dataclass(frozen=True)
class Proxy:
    namespace: str
    service: str
    pod: str
    identity: str = ""
    admin_addr: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.pod)

    @property
    def ident(self) -> ProxyIdentity:
        return ProxyIdentity(self.namespace, self.service, self.pod)


@dataclass
class StatRow:
    namespace: str
    name: str
    meshed: int
    known: int
    stats: Golden
    tcp: bool = True  # TCP columns apply (not with --to/--from)


@dataclass(frozen=True)
class StatQuery:
    resource: Resource
    namespace: str  # "" for every namespace
    to: Resource | None = None
    to_namespace: str = ""
    from_: Resource | None = None
    from_namespace: str = ""


def _all(sample: Sample) -> bool:
    return True


def dst_filter(kind: str, name: str, namespace: str) -> Filter:
    """Outbound samples whose destination is resource ``kind/name`` in ``namespace``."""
    label = DST_LABEL[kind]
    if kind == NAMESPACE:
        return lambda s: s.label(label) == name
    return lambda s: s.label(label) == name and s.label("dst_namespace") in (namespace, "")


def groups(kind: str, proxies: Iterable[Proxy]) -> dict[tuple[str, str], list[Proxy]]:
    out: dict[tuple[str, str], list[Proxy]] = defaultdict(list)
    for p in proxies:
        name = name_of(p.ident, kind)
        if name:
            out[(name if kind == NAMESPACE else p.namespace), name].append(p)
    return dict(sorted(out.items()))


def _known(kind: str, key: tuple[str, str], announced: int, endpoints: Mapping[tuple[str, str], int]) -> int:
    if kind == SERVICE:
        return max(announced, endpoints.get(key, 0))
    if kind == NAMESPACE:
        return max(announced, sum(n for (ns, _), n in endpoints.items() if ns == key[0]))
    return announced


def stat_rows(
    query: StatQuery, proxies: list[Proxy], windows: Windows, endpoints: Mapping[tuple[str, str], int]
) -> list[StatRow]:
    kind = query.resource.type
    chosen = [p for p in proxies if selects(query.resource, query.namespace, p.ident)]
    if query.from_ is not None:
        return _from_rows(query, proxies, groups(kind, chosen), windows, endpoints)
    rows = []
    for key, members in groups(kind, chosen).items():
        stats = Golden()
        for p in members:
            samples = windows.get(p.key, [])
            if query.to is None:
                golden(samples, _all, "inbound", into=stats)
            else:
                keep = dst_filter(query.to.type, query.to.name, query.to_namespace or p.namespace)
                golden(samples, keep, "outbound", into=stats)
        known = _known(kind, key, len(members), endpoints)
        rows.append(StatRow(key[0], key[1], len(members), known, stats, tcp=query.to is None))
    return rows


def _from_rows(
    query: StatQuery,
    proxies: list[Proxy],
    candidates: dict[tuple[str, str], list[Proxy]],
    windows: Windows,
    endpoints: Mapping[tuple[str, str], int],
) -> list[StatRow]:
    assert query.from_ is not None
    sources = [p for p in proxies if selects(query.from_, query.from_namespace or query.namespace, p.ident)]
    rows = []
    for (ns, name), members in candidates.items():
        keep = dst_filter(query.resource.type, name, ns)
        stats = Golden()
        for p in sources:
            golden(windows.get(p.key, []), keep, "outbound", into=stats)
        if stats.requests > 0:
            known = _known(query.resource.type, (ns, name), len(members), endpoints)
            rows.append(StatRow(ns, name, len(members), known, stats, tcp=False))
    return rows


@dataclass
class RouteRow:
    route: str
    service: str
    effective: Golden
    actual: Golden


def route_rows(
    targets: list[Proxy], windows: Windows, to: Resource | None, to_namespace: str
) -> list[RouteRow]:
    direction = "outbound" if to is not None else "inbound"
    rows: list[RouteRow] = []
    for (ns, service), members in groups(SERVICE, targets).items():
        keep = _all if to is None else _route_dst_filter(to.type, to.name, to_namespace or ns, ns)
        label = to.name if to is not None else service
        samples = [s for p in members for s in windows.get(p.key, [])]
        rows.extend(_routes_of(samples, keep, direction, label))
    return rows


def _route_dst_filter(kind: str, name: str, namespace: str, caller_namespace: str) -> Filter:
    """:func:`dst_filter`, and route samples by their ``dst`` authority (they carry no ``dst_service``)."""
    by_labels = dst_filter(kind, name, namespace)
    if kind != SERVICE:
        return by_labels

    def by_authority(s: Sample) -> bool:
        host = s.label("dst").rsplit(":", 1)[0].split(".")
        return host[0] == name and (host[1] if len(host) > 1 else caller_namespace) == namespace

    return lambda s: (
        by_labels(s) or (s.name.startswith("route_") and not s.label("dst_service") and by_authority(s))
    )


def _routes_of(samples: list[Sample], keep: Filter, direction: str, service: str) -> list[RouteRow]:
    names = sorted(
        {
            s.label("rt_route")
            for s in samples
            if s.name == "route_response_total" and s.label("direction") == direction and keep(s)
        }
    )
    plain = golden(samples, keep, direction)
    if not names:
        return [RouteRow(DEFAULT_ROUTE, service, plain, plain)]
    rows = []
    counted = Golden()
    for name in names:

        def in_route(s: Sample, name: str = name) -> bool:
            return keep(s) and s.label("rt_route") == name

        effective = golden(samples, in_route, direction, "route_")
        actual = golden(samples, in_route, direction, "route_actual_")
        rows.append(RouteRow(name, service, effective, actual if actual.requests else effective))
        counted.success += effective.success
        counted.failure += effective.failure
        for le, n in effective.buckets.items():
            counted.buckets[le] = counted.buckets.get(le, 0.0) + n
    if DEFAULT_ROUTE not in names and plain.requests > counted.requests:
        rest = Golden(
            max(0.0, plain.success - counted.success),
            max(0.0, plain.failure - counted.failure),
            {le: max(0.0, n - counted.buckets.get(le, 0.0)) for le, n in plain.buckets.items()},
        )
        rows.append(RouteRow(DEFAULT_ROUTE, service, rest, rest))
    return rows


@dataclass(frozen=True)
class EdgeRow:
    src: str
    dst: str
    src_ns: str
    dst_ns: str
    secured: bool
    client_id: str
    server_id: str


def edge_rows(kind: str, name: str, namespace: str, proxies: list[Proxy], samples: Windows) -> list[EdgeRow]:
    """Edges whose source or destination is ``kind[/name]`` in ``namespace`` ("" for all)."""
    identities: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in proxies:
        res = name_of(p.ident, kind)
        if res and p.identity:
            identities[p.namespace if kind != NAMESPACE else res, res].add(p.identity)
    secured: dict[tuple[str, str, str, str], bool] = {}
    clients: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for p in proxies:
        src = name_of(p.ident, kind)
        if not src:
            continue
        for s in samples.get(p.key, []):
            if s.name != "request_total" or s.label("direction") != "outbound" or s.value <= 0:
                continue
            dst, dst_ns = s.label(DST_LABEL[kind]), s.label("dst_namespace")
            if not dst:
                continue
            key = (src, dst, p.namespace, dst_ns)
            secured[key] = secured.get(key, True) and s.label("tls") == "true"
            if p.identity:
                clients[key].add(p.identity)
    rows = []
    for key, ok in sorted(secured.items()):
        src, dst, src_ns, dst_ns = key
        if name and name not in (src, dst):
            continue
        if namespace and namespace not in (src_ns, dst_ns):
            continue
        server = identities.get((dst_ns if kind != NAMESPACE else dst, dst), set())
        rows.append(
            EdgeRow(src, dst, src_ns, dst_ns, ok, ",".join(sorted(clients[key])), ",".join(sorted(server)))
        )
    return rows
