"""Dialing upstreams: one place that maps connect failures to proxy errors.

A refused or unreachable endpoint becomes :class:`UpstreamError` (502) and a
connect that does not finish within the timeout becomes :class:`ConnectTimeout`
(504); both say which address failed and why, which is what the client sees in
``lightmesh-proxy-error``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import TypeVar

from lightmesh.core.addr import SocketAddr
from lightmesh.core.errors import ConnectTimeout, UpstreamError

P = TypeVar("P", bound=asyncio.BaseProtocol)


async def open_connection(
    addr: SocketAddr, factory: Callable[[], P], timeout: float
) -> tuple[asyncio.Transport, P]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(factory, addr.host, addr.port)
    except TimeoutError:
        raise ConnectTimeout(f"connect to {addr} timed out after {timeout * 1000:.0f}ms") from None
    except OSError as exc:
        why = errno.errorcode.get(exc.errno or 0, "") if exc.errno else ""
        text = exc.strerror or str(exc) or type(exc).__name__
        raise UpstreamError(f"connect to {addr} failed: {text}{f' ({why})' if why else ''}") from None
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return transport, protocol  # uvloop transports are not asyncio.Transport subclasses
