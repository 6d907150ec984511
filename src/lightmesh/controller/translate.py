"""The controller's values as destination API messages (``lightmesh.api.gen.destination_pb2``).

Pure functions, no I/O: endpoint updates (:mod:`lightmesh.controller.endpoints`) become
``Update`` messages, and a service's profile spec (:mod:`lightmesh.controller.profiles`)
its ``DestinationProfile`` (conditions with several keys become an ``all``). Addresses are
sent as linkerd sends them: IPv4 as a big-endian ``fixed32``, IPv6 as two big-endian
``fixed64`` halves. :class:`EncodedUpdate` is an ``Update`` serialized once, for every
stream that sends it. A meshed endpoint (one with an identity) also gets the
``opaque_transport`` hint: its proxy takes opaque TCP on the mesh's inbound port
(:data:`PROXY_INBOUND_PORT`, where injection and ``lightmesh up --netns`` put it).
"""

from __future__ import annotations

from typing import Any

from lightmesh.api.addr import tcp_address
from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.controller.endpoints import Add, Endpoint, NoEndpoints, Remove, Update
from lightmesh.controller.profiles import (
    ConditionSpec,
    ProfileBody,
    ResponseConditionSpec,
    RetryBudgetSpec,
    RouteSpec,
    StatusSpec,
)
from lightmesh.core.durations import parse_duration
from lightmesh.core.names import ServiceName

PROXY_INBOUND_PORT = 4143  # meshed pods' proxies listen here (Linkerd's default too)


def weighted_addr(endpoint: Endpoint) -> pb.WeightedAddr:
    msg = pb.WeightedAddr(
        addr=tcp_address(endpoint.addr), weight=endpoint.weight, metric_labels=dict(endpoint.labels)
    )
    if endpoint.identity is not None:
        msg.tls_identity.dns_like_identity.name = endpoint.identity
        msg.protocol_hint.opaque_transport.inbound_port = PROXY_INBOUND_PORT
    if endpoint.protocol == "h2":
        msg.protocol_hint.h2.SetInParent()
    elif endpoint.protocol == "opaque":
        msg.protocol_hint.opaque.SetInParent()
    return msg


def service_labels(name: ServiceName) -> dict[str, str]:
    """Metric labels shared by every endpoint of a service."""
    return {"namespace": name.namespace, "service": name.name}


def update_message(update: Update, name: ServiceName | None) -> pb.Update:
    if isinstance(update, Add):
        labels = service_labels(name) if name is not None else {}
        addrs = [weighted_addr(e) for e in update.endpoints]
        return pb.Update(add=pb.WeightedAddrSet(addrs=addrs, metric_labels=labels))
    if isinstance(update, Remove):
        return pb.Update(remove=pb.AddrSet(addrs=[tcp_address(a) for a in update.addrs]))
    assert isinstance(update, NoEndpoints)
    return pb.Update(no_endpoints=pb.NoEndpoints(exists=update.exists))


def update_kind(update: Update) -> str:
    """The update's name in the API and in metrics: add, remove or no_endpoints."""
    return {Add: "add", Remove: "remove", NoEndpoints: "no_endpoints"}[type(update)]


class EncodedUpdate:
    """An ``Update`` serialized once, sent as these bytes on every stream that needs it.

    grpclib's ``ProtoCodec`` checks that a message is an instance of the method's reply
    type, then sends ``message.SerializeToString()``: the destination service declares this
    class as ``Get``'s reply type, so a change is encoded once, not once per stream.
    """

    __slots__ = ("data", "kind")

    def __init__(self, update: Update, name: ServiceName | None) -> None:
        self.data: bytes = update_message(update, name).SerializeToString()
        self.kind = update_kind(update)  # for metrics: add, remove or no_endpoints

    def SerializeToString(self) -> bytes:
        return self.data


def _set_duration(target: Any, text: str) -> None:
    target.FromNanoseconds(round(parse_duration(text) * 1e9))


def request_match(cond: ConditionSpec) -> pb.RequestMatch:
    parts: list[pb.RequestMatch] = []
    if cond.method is not None:
        parts.append(pb.RequestMatch(method=cond.method))
    if cond.path is not None:
        parts.append(pb.RequestMatch(path=pb.PathMatch(exact=cond.path)))
    if cond.path_prefix is not None:
        parts.append(pb.RequestMatch(path=pb.PathMatch(prefix=cond.path_prefix)))
    if cond.path_regex is not None:
        parts.append(pb.RequestMatch(path=pb.PathMatch(regex=cond.path_regex)))
    for h in cond.headers:
        parts.append(pb.RequestMatch(header=pb.HeaderMatch(name=h.name, exact=h.value, regex=h.regex)))
    if cond.all is not None:
        parts.append(pb.RequestMatch(all=pb.RequestMatch.Seq(matches=[request_match(c) for c in cond.all])))
    if cond.any is not None:
        parts.append(pb.RequestMatch(any=pb.RequestMatch.Seq(matches=[request_match(c) for c in cond.any])))
    if cond.not_ is not None:
        parts.append(pb.RequestMatch(**{"not": request_match(cond.not_)}))
    return parts[0] if len(parts) == 1 else pb.RequestMatch(all=pb.RequestMatch.Seq(matches=parts))


def _status(spec: StatusSpec) -> pb.ResponseMatch:
    return pb.ResponseMatch(status=pb.HttpStatusRange(min=spec.min, max=spec.max))


def response_match(cond: ResponseConditionSpec) -> pb.ResponseMatch:
    if cond.status is not None:
        return _status(cond.status)
    if cond.any is not None:
        return pb.ResponseMatch(any=pb.ResponseMatch.Seq(matches=[_status(s) for s in cond.any]))
    assert cond.not_ is not None
    return pb.ResponseMatch(**{"not": _status(cond.not_)})


def route_message(spec: RouteSpec) -> pb.Route:
    msg = pb.Route(name=spec.name, is_retryable=spec.is_retryable, retry_limit=spec.retry_limit or 0)
    if spec.condition is not None:
        msg.condition.CopyFrom(request_match(spec.condition))
    if spec.timeout is not None:
        _set_duration(msg.timeout, spec.timeout)
    if spec.response_timeout is not None:
        _set_duration(msg.response_timeout, spec.response_timeout)
    if spec.idle_timeout is not None:
        _set_duration(msg.idle_timeout, spec.idle_timeout)
    for cls in spec.response_classes:
        msg.response_classes.append(
            pb.ResponseClass(condition=response_match(cls.condition), is_failure=cls.is_failure)
        )
    if spec.fault is not None:
        if spec.fault.abort is not None:
            msg.fault.abort.status = spec.fault.abort.status
            msg.fault.abort.percent = spec.fault.abort.percent
        if spec.fault.delay is not None:
            _set_duration(msg.fault.delay.duration, spec.fault.delay.duration)
            msg.fault.delay.percent = spec.fault.delay.percent
    return msg


def profile_message(name: ServiceName | None, spec: ProfileBody | None = None) -> pb.DestinationProfile:
    """The profile of a service: its routes and budget, or no routes and the default budget."""
    budget_spec = (spec.retry_budget if spec is not None else None) or RetryBudgetSpec.model_validate({})
    budget = pb.RetryBudget(
        retry_ratio=budget_spec.retry_ratio, min_retries_per_second=budget_spec.min_retries_per_second
    )
    _set_duration(budget.ttl, budget_spec.ttl)
    msg = pb.DestinationProfile(fully_qualified_name=name.host if name else "", retry_budget=budget)
    if spec is not None:
        msg.routes.extend(route_message(r) for r in spec.routes)
        msg.allow_overrides = spec.allow_overrides
    return msg
