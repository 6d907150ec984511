"""How a demo app reaches other services, with or without ``--netns``.

Under ``lightmesh up`` without ``--netns`` the app's sidecar is at ``$LIGHTMESH_OUTBOUND``
(also ``$http_proxy``): HTTP/1 clients use it as their proxy, and gRPC clients connect to
it and name the service in ``:authority`` (``emoji:8080``), which the sidecar routes by.
With ``--netns`` (or when the variable is unset) the app connects to the name itself;
iptables sends the connection through the sidecar.
"""

from __future__ import annotations

import os

from grpclib.client import Channel


def outbound() -> tuple[str, int] | None:
    """The sidecar's outbound listener, or ``None`` when traffic is redirected transparently."""
    addr = os.environ.get("LIGHTMESH_OUTBOUND", "")
    if not addr:
        return None
    host, _, port = addr.rpartition(":")
    return host, int(port)


def grpc_channel(target: str) -> Channel:
    """A grpclib channel to ``target`` (``name:port``), through the sidecar when there is one."""
    name, _, port = target.rpartition(":")
    sidecar = outbound()
    if sidecar is None:
        return Channel(name, int(port))
    channel = Channel(*sidecar)
    channel._authority = target  # grpclib names the connected address; the sidecar routes by this
    return channel
