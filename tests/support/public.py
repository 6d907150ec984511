"""grpcio calls to the controller's public API (``lightmesh.public.Api``) for tests."""

from __future__ import annotations

import grpc

from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen import tap_pb2
from tests.support.controller import CALL_DEADLINE, UpdateStream
from tests.support.tap import OPTIONS
from tests.support.tcp_client import wait_until

API = "/lightmesh.public.Api"


def list_proxies(addr: str, namespace: str = "") -> list[pb.ProxyInfo]:
    with grpc.insecure_channel(addr, options=OPTIONS) as channel:
        call = channel.unary_unary(
            f"{API}/ListProxies",
            request_serializer=pb.ListProxiesRequest.SerializeToString,
            response_deserializer=pb.ListProxiesResponse.FromString,
        )
        return list(call(pb.ListProxiesRequest(namespace=namespace), timeout=10).proxies)


def version(addr: str) -> str:
    with grpc.insecure_channel(addr, options=OPTIONS) as channel:
        call = channel.unary_unary(
            f"{API}/Version",
            request_serializer=pb.VersionRequest.SerializeToString,
            response_deserializer=pb.VersionResponse.FromString,
        )
        return str(call(pb.VersionRequest(), timeout=10).version)


def wait_for_pods(addr: str, pods: set[str]) -> list[pb.ProxyInfo]:
    """Wait until exactly ``pods`` are announced; returns their entries."""
    found: list[pb.ProxyInfo] = []

    def listed() -> bool:
        found[:] = list_proxies(addr)
        return {p.pod for p in found} == pods

    wait_until(listed, what=f"announced pods == {sorted(pods)}")
    return found


def tap(addr: str, request: pb.TapRequest) -> tuple[grpc.Channel, UpdateStream]:
    channel = grpc.insecure_channel(addr, options=OPTIONS)
    call = channel.unary_stream(
        f"{API}/Tap",
        request_serializer=pb.TapRequest.SerializeToString,
        response_deserializer=tap_pb2.TapEvent.FromString,
    )(request, timeout=CALL_DEADLINE)
    return channel, UpdateStream(call)
