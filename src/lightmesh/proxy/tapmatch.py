"""Tap's match tree: compile an ``ObserveRequest.match`` into a predicate over a request.

:func:`compile_match` turns the protobuf tree (``all``/``any``/``not``, source and
destination netmask or port range, source and destination labels, HTTP scheme,
method, authority and path, exact or prefix) into nested closures once, when the
tap starts; each tapped request is then described once as :class:`Facts` and
the predicate runs over it. A malformed tree raises ``ValueError`` (the tap server
answers INVALID_ARGUMENT).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightmesh.api.gen import tap_pb2 as pb

Predicate = Callable[["Facts"], bool]


@dataclass(slots=True)
class Facts:
    """What a match can test about one request."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    method: str
    scheme: str
    authority: str
    path: str
    src_meta: dict[str, str] = field(default_factory=dict)
    dst_meta: dict[str, str] = field(default_factory=dict)


def _true(facts: Facts) -> bool:
    return True


def compile_match(match: pb.Match | None) -> Predicate:
    """The predicate for ``match``; an unset match matches everything."""
    if match is None:
        return _true
    kind = match.WhichOneof("match")
    if kind is None:
        return _true
    if kind in ("all", "any"):
        parts = [compile_match(m) for m in getattr(match, kind).matches]
        if kind == "all":
            return lambda f: all(p(f) for p in parts)
        return lambda f: any(p(f) for p in parts)
    if kind == "not":
        inner = compile_match(match.__getattribute__("not"))
        return lambda f: not inner(f)
    if kind in ("source", "destination"):
        return _tcp(getattr(match, kind), kind == "source")
    if kind in ("source_label", "destination_label"):
        return _label(getattr(match, kind), kind == "source_label")
    return _http(match.http)


def _tcp(tcp: pb.Match.Tcp, source: bool) -> Predicate:
    kind = tcp.WhichOneof("match")
    if kind == "ports":
        low = tcp.ports.min
        high = tcp.ports.max or low
        if not 0 <= low <= high <= 65535:
            raise ValueError(f"invalid port range {low}-{high}")
        if source:
            return lambda f: low <= f.src_port <= high
        return lambda f: low <= f.dst_port <= high
    if kind == "netmask":
        if not tcp.netmask.ip:
            return _true
        try:
            net = ipaddress.ip_network(f"{tcp.netmask.ip}/{tcp.netmask.mask}", strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid netmask {tcp.netmask.ip}/{tcp.netmask.mask}: {exc}") from None

        def in_net(ip: str) -> bool:
            try:
                return ipaddress.ip_address(ip) in net
            except ValueError:
                return False

        if source:
            return lambda f: in_net(f.src_ip)
        return lambda f: in_net(f.dst_ip)
    raise ValueError("empty tcp match: give a netmask or a port range")


def _label(label: pb.Match.Label, source: bool) -> Predicate:
    key, value = label.key, label.value
    if not key:
        raise ValueError("label match without a key")
    if source:
        return lambda f: f.src_meta.get(key) == value
    return lambda f: f.dst_meta.get(key) == value


def _http(http: pb.Match.Http) -> Predicate:
    kind = http.WhichOneof("match")
    if kind == "scheme":
        scheme = http.scheme.lower()
        return lambda f: f.scheme == scheme
    if kind == "method":
        method = http.method
        return lambda f: f.method == method
    if kind == "authority":
        test = _string(http.authority, "authority")
        return lambda f: test(f.authority)
    if kind == "path":
        test = _string(http.path, "path")
        return lambda f: test(f.path)
    raise ValueError("empty http match: give a scheme, method, authority or path")


def _string(match: pb.Match.Http.StringMatch, what: str) -> Callable[[str], bool]:
    kind = match.WhichOneof("match")
    if kind == "exact":
        exact = match.exact
        return lambda s: s == exact
    if kind == "prefix":
        prefix = match.prefix
        return lambda s: s.startswith(prefix)
    raise ValueError(f"empty {what} match: give exact or prefix")
