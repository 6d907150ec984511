"""Resolving an authority to endpoint addresses: the static map, then DNS or a literal IP.

:class:`Resolver` is the interface the control-plane discovery client will
implement later; :class:`StaticDnsResolver` serves the embedded default. A name in
``LIGHTMESH_PROXY_STATIC_DESTINATIONS`` resolves to its listed endpoints; an IP
literal to itself; anything else through the system resolver (in a thread, via
``getaddrinfo``), whose answers the caller caches for ``dns_ttl``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from lightmesh.core.addr import SocketAddr, check_hostname, is_ip, split_host_port
from lightmesh.core.errors import BadRequest, UpstreamError


class Resolver(Protocol):
    async def resolve(self, authority: str) -> list[SocketAddr]:
        """Endpoints for ``host:port``; raises a ``ProxyError`` saying why when there are none."""
        ...

    def is_static(self, authority: str) -> bool: ...


class StaticDnsResolver:
    def __init__(self, static: dict[str, list[SocketAddr]]) -> None:
        self.static = static

    def is_static(self, authority: str) -> bool:
        return authority in self.static

    async def resolve(self, authority: str) -> list[SocketAddr]:
        endpoints = self.static.get(authority)
        if endpoints is not None:
            return list(endpoints)
        try:
            host, port = split_host_port(authority, 80)
        except ValueError as exc:
            raise BadRequest(f"invalid authority {authority!r}: {exc}") from None
        if is_ip(host):
            return [SocketAddr(host, port)]
        try:
            check_hostname(host)
        except ValueError as exc:
            raise BadRequest(f"invalid host name {host!r}: {exc}") from None
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as failure:
            raise UpstreamError(f"DNS resolution of {host} failed: {failure.strerror or failure}") from None
        seen: dict[SocketAddr, None] = {}
        for _family, _type, _proto, _canon, sockaddr in infos:
            seen[SocketAddr(str(sockaddr[0]), int(sockaddr[1]))] = None
        if not seen:
            raise UpstreamError(f"DNS resolution of {host} returned no addresses")
        return list(seen)
