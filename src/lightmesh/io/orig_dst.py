"""``SO_ORIGINAL_DST``: the address a connection was sent to before iptables redirected it.

Python's socket module does not export the option, so its value (80, from
``linux/netfilter_ipv4.h``; ``IP6T_SO_ORIGINAL_DST`` is also 80) is used directly.
On a connection that was not redirected the kernel reports an error (no conntrack
entry) and ``None`` is returned.
"""

from __future__ import annotations

import socket
import struct

SO_ORIGINAL_DST = 80


def original_dst(sock: socket.socket) -> tuple[str, int] | None:
    try:
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
            port = struct.unpack_from("!H", raw, 2)[0]
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return None
    port = struct.unpack_from("!H", raw, 2)[0]
    return socket.inet_ntoa(raw[4:8]), port
