"""One running instance: its sidecar and its app, supervised, and whether it is ready.

The sidecar starts first, so the app's first outbound call finds it. An instance is ready
when the sidecar's ``/ready`` answers 200 and the app listens on its port; the probe runs
every :data:`PROBE_STARTING` seconds until then, every :data:`PROBE_READY` seconds after,
and at once when either process exits. Each change calls ``changed`` (the supervisor
rewrites the registry: only ready instances receive traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from lightmesh.local.network import Network
from lightmesh.local.probes import http_status, listening
from lightmesh.local.procs import Report, Supervised
from lightmesh.local.sidecar import Instance, app_env, sidecar_env

PROBE_STARTING = 0.1
PROBE_READY = 1.0


class InstanceRunner:
    def __init__(
        self, instance: Instance, network: Network, logs: Path, report: Report, changed: Callable[[], None]
    ) -> None:
        self.instance = instance
        self.changed = changed
        self.ready = False
        self._poke = asyncio.Event()
        base = f"{instance.service.namespace}.{instance.pod}"
        self.sidecar = Supervised(
            f"{instance.pod} ({instance.service.key}) sidecar",
            network.sidecar_argv(instance),
            sidecar_env(instance),
            logs / f"{base}.proxy.log",
            report,
            on_exit=self._poke.set,
        )
        self.app = Supervised(
            f"{instance.pod} ({instance.service.key}) app",
            network.app_argv(instance),
            app_env(instance),
            logs / f"{base}.app.log",
            report,
            on_exit=self._poke.set,
        )
        self._probe: asyncio.Task[None] | None = None

    @property
    def restarts(self) -> int:
        return self.app.restarts + self.sidecar.restarts

    def status(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "restarts": self.restarts,
            "app_pid": self.app.pid,
            "proxy_pid": self.sidecar.pid,
        }

    def start(self) -> None:
        self.sidecar.start()
        self.app.start()
        self._probe = asyncio.get_running_loop().create_task(self._probe_loop())

    async def _is_ready(self) -> bool:
        pid = self.app.pid
        if pid is None or not listening(pid, self.instance.app_port):
            return False
        return await http_status(self.instance.admin_addr, "/ready") == 200

    def why_not_ready(self) -> str:
        pid = self.app.pid
        if pid is None:
            return f"the app is not running (see {self.app.log_path})"
        if not listening(pid, self.instance.app_port):
            return (
                f"the app does not listen on port {self.instance.app_port} ($PORT; see {self.app.log_path})"
            )
        return f"the sidecar is not ready (see {self.sidecar.log_path})"

    async def _probe_loop(self) -> None:
        while True:
            ready = await self._is_ready()
            if ready != self.ready:
                self.ready = ready
                self.changed()
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), PROBE_READY if ready else PROBE_STARTING)

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        self.ready = False
        await self.app.stop()
        await self.sidecar.stop()
