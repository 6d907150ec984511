"""Tell the controller this proxy exists: one ``Registry.Announce`` call kept open.

When ``LIGHTMESH_PROXY_CONTROLLER_ADDR`` is set the proxy sends a ``ProxyInfo``
(namespace, service, pod, admin and tap addresses, identity, version) and keeps
the call open; the controller lists the proxy for as long as the call lives, so a
proxy that dies disappears from ``lightmesh stat`` and tap at once. When the call
breaks (controller restarting) it is made again with jittered exponential backoff
(100 ms doubling to 10 s), like the destination client.

The announced addresses must be reachable from the controller and the CLI: a
listener bound to a specific address is announced as is; one bound to ``0.0.0.0``
or ``::`` is announced with the address this host uses to reach the controller
(found with an unconnected UDP socket, which sends nothing).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from lightmesh import __version__
from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen.public_grpc import RegistryStub
from lightmesh.core.addr import SocketAddr
from lightmesh.core.backoff import Backoff

log = logging.getLogger(__name__)
BACKOFF_MIN = 0.1
BACKOFF_MAX = 10.0
_ANY = ("0.0.0.0", "::", "")


def reachable(listen: SocketAddr, local_ip: str) -> str:
    """``host:port`` others can dial for a listener bound to ``listen``."""
    host = local_ip if listen.host in _ANY else listen.host
    return f"[{host}]:{listen.port}" if ":" in host else f"{host}:{listen.port}"


async def local_ip_towards(addr: SocketAddr) -> str:
    """The address of this host's interface that routes to ``addr``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(addr.host, addr.port, type=socket.SOCK_DGRAM)
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(sockaddr)  # UDP: picks the route, sends nothing
        return str(s.getsockname()[0])


class Announcer:
    def __init__(
        self,
        controller: SocketAddr,
        namespace: str,
        service: str,
        pod: str,
        admin: SocketAddr,
        tap: SocketAddr | None,
        identity: str = "",
    ) -> None:
        self.controller = controller
        self.listeners = (admin, tap)
        self.info = pb.ProxyInfo(
            namespace=namespace,
            service=service,
            pod=pod,
            identity=identity,
            version=__version__,
            started_unix=time.time(),
        )
        self.channel = Channel(controller.host, controller.port)
        self.stub = RegistryStub(self.channel)
        self.announced = asyncio.Event()  # set while the controller lists this proxy
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _describe(self) -> pb.ProxyInfo:
        admin, tap = self.listeners
        needs_ip = admin.host in _ANY or (tap is not None and tap.host in _ANY)
        ip = await local_ip_towards(self.controller) if needs_ip else ""
        info = pb.ProxyInfo()
        info.CopyFrom(self.info)
        info.admin_addr = reachable(admin, ip)
        info.tap_addr = reachable(tap, ip) if tap is not None else ""
        return info

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_MIN, BACKOFF_MAX)
        while True:
            try:
                info = await self._describe()
                async with self.stub.Announce.open() as stream:
                    await stream.send_message(info, end=True)
                    async for _reply in stream:
                        if not self.announced.is_set():
                            log.info("announced to the controller %s as %s", self.controller, info.pod)
                        self.announced.set()
                        backoff.reset()
                reason = "stream ended"
            except (GRPCError, StreamTerminatedError, OSError, ConnectionError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.announced.clear()
            wait = backoff.next()
            log.info("announce to %s: %s; retrying in %.0f ms", self.controller, reason, wait * 1000)
            await asyncio.sleep(wait)

    def close(self) -> None:
        self._task.cancel()
        self.channel.close()
