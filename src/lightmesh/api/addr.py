"""Socket addresses in the destination API, as linkerd encodes them.

IPv4 travels as a big-endian ``fixed32``, IPv6 as two big-endian ``fixed64``
halves. The controller encodes with :func:`tcp_address`, the proxy decodes with
:func:`socket_addr`; both sides share this one definition.
"""

from __future__ import annotations

import ipaddress

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.core.addr import SocketAddr


def tcp_address(addr: SocketAddr) -> pb.TcpAddress:
    ip = ipaddress.ip_address(addr.host)
    if ip.version == 4:
        return pb.TcpAddress(ip=pb.IPAddress(ipv4=int(ip)), port=addr.port)
    n = int(ip)
    return pb.TcpAddress(ip=pb.IPAddress(ipv6=pb.IPv6(first=n >> 64, last=n & (2**64 - 1))), port=addr.port)


def socket_addr(msg: pb.TcpAddress) -> SocketAddr:
    """The inverse of :func:`tcp_address`."""
    if msg.ip.WhichOneof("ip") == "ipv6":
        n = (msg.ip.ipv6.first << 64) | msg.ip.ipv6.last
        return SocketAddr(str(ipaddress.IPv6Address(n)), msg.port)
    return SocketAddr(str(ipaddress.IPv4Address(msg.ip.ipv4)), msg.port)
