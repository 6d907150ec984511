"""From ``lightmesh tap`` / ``top`` flags to a ``TapRequest`` (pure, so it is unit-tested).

The target resource picks the proxies (through the controller); every other flag
becomes one node of the match tree, all of them under one ``all``:

* ``--to TYPE/NAME`` (with ``--to-namespace``, default the target's namespace):
  destination labels ``service``, ``pod`` or ``namespace`` (and ``namespace``);
* ``--method`` (exact), ``--authority`` (exact), ``--path`` (prefix), ``--scheme``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen import tap_pb2
from lightmesh.core.resources import NAMESPACE, parse_resource

Match = tap_pb2.Match
Http = tap_pb2.Match.Http


@dataclass(frozen=True)
class TapFlags:
    resource: str
    name: str = ""
    namespace: str = "default"
    to: str = ""
    to_namespace: str = ""
    method: str = ""
    authority: str = ""
    path: str = ""
    scheme: str = ""
    max_rps: float = 100.0
    limit: int = 0


def _label(key: str, value: str) -> Match:
    return Match(destination_label=Match.Label(key=key, value=value))


def tap_request(flags: TapFlags) -> pb.TapRequest:
    """The request for ``flags``; ``ValueError`` saying which flag is wrong."""
    target = parse_resource(flags.resource, flags.name)
    if not math.isfinite(flags.max_rps) or flags.max_rps <= 0:
        raise ValueError(f"--max-rps must be more than 0, got {flags.max_rps}")
    if flags.limit < 0:
        raise ValueError(f"--limit must be 0 or more, got {flags.limit}")
    matches: list[Match] = []
    if flags.to:
        try:
            to = parse_resource(flags.to)
        except ValueError as exc:
            raise ValueError(f"--to: {exc}") from None
        if not to.name:
            raise ValueError(f"--to needs TYPE/NAME, got {flags.to!r}")
        if to.type == NAMESPACE:
            matches.append(_label("namespace", to.name))
        else:
            matches.append(_label(to.type, to.name))
            matches.append(_label("namespace", flags.to_namespace or flags.namespace))
    if flags.method:
        matches.append(Match(http=Http(method=flags.method.upper())))
    if flags.authority:
        matches.append(Match(http=Http(authority=Http.StringMatch(exact=flags.authority))))
    if flags.path:
        if not flags.path.startswith("/"):
            raise ValueError(f"--path must start with '/', got {flags.path!r}")
        matches.append(Match(http=Http(path=Http.StringMatch(prefix=flags.path))))
    if flags.scheme:
        if flags.scheme.lower() not in ("http", "https"):
            raise ValueError(f"--scheme must be http or https, got {flags.scheme!r}")
        matches.append(Match(http=Http(scheme=flags.scheme.lower())))
    observe = tap_pb2.ObserveRequest(max_rps=flags.max_rps, limit=flags.limit)
    if matches:
        observe.match.CopyFrom(Match(all=Match.Seq(matches=matches)))
    namespace = target.name if target.type == NAMESPACE else flags.namespace
    resource = pb.Resource(namespace=namespace, type=target.type, name=target.name)
    return pb.TapRequest(target=resource, observe=observe)
