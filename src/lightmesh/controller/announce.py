"""``lightmesh.public.Registry/Announce``: proxies announce themselves on the proxy API.

A proxy sends one ``ProxyInfo`` and keeps the call open. The handler validates it,
adds it to the :class:`~lightmesh.controller.proxies.ProxyList`, answers once with
the controller's version, and waits; when the call ends (the proxy stopped, its
connection broke, or the controller shuts down) grpclib cancels the handler and the
entry is removed.
"""

from __future__ import annotations

import asyncio
import logging

from grpclib import GRPCError, Status
from grpclib.server import Stream

from lightmesh import __version__
from lightmesh.api.gen import public_pb2 as pb
from lightmesh.api.gen.public_grpc import RegistryBase
from lightmesh.controller.proxies import ProxyList
from lightmesh.core.addr import parse_socket_addr

log = logging.getLogger(__name__)


def check_info(info: pb.ProxyInfo) -> None:
    problems = []
    if not info.namespace or not info.pod:
        problems.append("namespace and pod are required")
    for field, value in (("admin_addr", info.admin_addr), ("tap_addr", info.tap_addr)):
        if value or field == "admin_addr":
            try:
                parse_socket_addr(value)
            except ValueError as exc:
                problems.append(f"{field}: {exc}")
    if problems:
        raise GRPCError(Status.INVALID_ARGUMENT, "; ".join(problems))


class RegistryService(RegistryBase):
    def __init__(self, proxies: ProxyList) -> None:
        self.proxies = proxies

    async def Announce(self, stream: Stream[pb.ProxyInfo, pb.AnnounceReply]) -> None:
        info = await stream.recv_message()
        if info is None:
            raise GRPCError(Status.INVALID_ARGUMENT, "no ProxyInfo")
        check_info(info)
        key = self.proxies.add(info)
        log.info("proxy %s/%s (%s) announced: admin %s, tap %s", info.namespace, info.pod,
                 info.service or "no service", info.admin_addr, info.tap_addr or "off")  # fmt: skip
        try:
            await stream.send_message(pb.AnnounceReply(controller_version=__version__))
            await asyncio.Event().wait()  # until the proxy goes away or the controller stops
        finally:
            self.proxies.remove(key)
            log.info("proxy %s/%s gone", info.namespace, info.pod)
