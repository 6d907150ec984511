"""The controller's values as destination API messages (``lightmesh.api.gen.destination_pb2``).

Pure functions, no I/O: endpoint updates (:mod:`lightmesh.controller.endpoints`) become
``Update`` messages (profiles: :mod:`lightmesh.controller.profiles`). Addresses are sent
as linkerd sends them: IPv4 as a big-endian ``fixed32``, IPv6 as two big-endian
``fixed64`` halves. :class:`EncodedUpdate` is an ``Update`` serialized once, for every
stream that sends it.
"""

from __future__ import annotations

from lightmesh.api.addr import tcp_address
from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.controller.endpoints import Add, Endpoint, NoEndpoints, Remove, Update
from lightmesh.core.names import ServiceName


def weighted_addr(endpoint: Endpoint) -> pb.WeightedAddr:
    msg = pb.WeightedAddr(
        addr=tcp_address(endpoint.addr), weight=endpoint.weight, metric_labels=dict(endpoint.labels)
    )
    if endpoint.identity is not None:
        msg.tls_identity.dns_like_identity.name = endpoint.identity
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
