"""``lightmesh up``: run a mesh file's services with their sidecars and a controller, until stopped.

:class:`Up` starts the controller over a registry file it owns, then every instance (a
sidecar, then the app), watches readiness (the sidecar's ``/ready`` and the app listening
on its port) and writes each change into the registry (ready instances only), the state
file and, with ``--netns``, the service addresses. Crashed processes are restarted with
backoff (:mod:`.procs`). The mesh file is re-read when it changes and ``lightmesh scale``
asks through the control socket; both reconcile the running instances with the wanted
ones. SIGINT, SIGTERM, SIGHUP (or ``--duration``) stop everything: apps and sidecars, the
controller, the network, then the state, registry and socket files are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightmesh.local import control
from lightmesh.local.identity import LocalIdentity
from lightmesh.local.instance import InstanceRunner
from lightmesh.local.meshfile import MeshFileError, MeshSpec, ServiceSpec, parse_mesh
from lightmesh.local.network import Network
from lightmesh.local.probes import counter, free_port, http_status, port_in_use
from lightmesh.local.procs import Report, Supervised
from lightmesh.local.registry import EndpointEntry, registry_text, write_atomically
from lightmesh.local.sidecar import base_env, controller_argv
from lightmesh.local.state import STATE_FILE, read_state, write_state

MESH_POLL = 1.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, terminal closed
CONTROLLER_READY_TIMEOUT = 30.0
DEREGISTER_TIMEOUT, DEREGISTER_GRACE = 5.0, 0.2  # stopping instances: out of discovery first
DEFAULT_API_ADDR = "127.0.0.1:8085"  # the CLI's default too; state-file discovery finds any other


def columns(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as lines with left-aligned columns."""
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


class UpError(Exception):
    """``up`` cannot start; the message says why. ``code`` is the exit code (2: a bad mesh file)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class UpOptions:
    mesh_file: Path
    state_dir: Path
    api_addr: str = ""  # empty: 127.0.0.1:8085, or a free port when that one is taken
    proxy_api_addr: str = ""  # empty: a free port
    controller_admin_addr: str = ""  # empty: a free port
    ready_timeout: float = 60.0
    duration: float | None = None
    banner: Callable[[dict[str, Any]], list[str]] | None = None  # lines after the table, from the state


class Up:
    def __init__(
        self, options: UpOptions, network: Network, report: Report, error: Report | None = None
    ) -> None:
        self.opts = options
        self.network = network
        self.report = report
        self.error = error or report
        self.dir = options.state_dir
        self.logs = self.dir / "logs"
        self.registry = self.dir / "registry.yaml"
        self.state_file = self.dir / STATE_FILE
        self.socket = self.dir / "up.sock"
        self.spec = MeshSpec(services=[])
        self.file_replicas: dict[str, int] = {}
        self.scaled: dict[str, int] = {}  # `lightmesh scale` overrides, until the file's value changes
        self.runners: dict[str, InstanceRunner] = {}
        self.controller: Supervised | None = None
        self.stop_event = asyncio.Event()
        self._lock = asyncio.Lock()  # one reconcile at a time
        self._publishing = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.identity = LocalIdentity(self.dir)
        self.proxy_api_addr = self.admin_addr = self.api_addr = ""
        self._mesh_text = ""
        self._registry_written = False  # whether the last change rewrote the registry

    # -- start-up ----------------------------------------------------------------------------------

    def load(self) -> MeshSpec:
        path = self.opts.mesh_file
        try:
            text = path.read_text()
        except OSError as exc:
            raise UpError(f"cannot read the mesh file: {exc}") from None
        try:
            spec = parse_mesh(text, str(path), self.network.reserved_ports)
        except MeshFileError as exc:
            raise UpError(str(exc), 2) from None
        self._mesh_text = text
        return spec

    def _check_addrs(self) -> None:
        flags = (
            ("--api-addr", self.opts.api_addr),
            ("--proxy-api-addr", self.opts.proxy_api_addr),
            ("--controller-admin-addr", self.opts.controller_admin_addr),
        )
        busy = [f"{addr} ({flag})" for flag, addr in flags if addr and port_in_use(addr)]
        if busy:
            raise UpError(f"address already in use: {', '.join(busy)}; free it or pass another")

    def _claim_state(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        running = read_state(self.state_file)
        if running is not None and running["pid"] != os.getpid():
            raise UpError(
                f"lightmesh up is already running (pid {running['pid']}, {running.get('mesh_file')}); "
                f"stop it first, or set LIGHTMESH_STATE_DIR to run another (state: {self.state_file})"
            )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.stop_event.set)
        try:
            self.spec = self.load()
            self._check_addrs()
            self._claim_state()
            self.file_replicas = {s.key: s.replicas for s in self.spec.services}
            return await self._serve()
        except UpError as exc:
            self.error(f"lightmesh up: {exc}")
            return exc.code
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    async def _serve(self) -> int:
        server = await control.serve(self.socket, self._control)
        code = 0
        try:
            await self._start()
            await self._wait()
        except UpError as exc:
            self.error(f"lightmesh up: {exc}")
            code = exc.code
        finally:
            server.close()
            await self._shutdown()
        return code

    async def _start(self) -> None:
        try:
            await self.network.setup()
        except (RuntimeError, OSError) as exc:
            raise UpError(f"cannot set up the network: {exc}") from None
        host = self.network.controller_host
        self.proxy_api_addr = self.opts.proxy_api_addr or f"{host}:{free_port(host)}"
        self.admin_addr = self.opts.controller_admin_addr or f"127.0.0.1:{free_port()}"
        self.api_addr = self.opts.api_addr or (
            f"127.0.0.1:{free_port()}" if port_in_use(DEFAULT_API_ADDR) else DEFAULT_API_ADDR
        )
        try:
            await self.identity.init()
            await self.identity.issue({(s.account, s.namespace) for s in self.spec.services})
        except (RuntimeError, OSError) as exc:
            raise UpError(f"cannot create the mesh identity: {exc}") from None
        write_atomically(self.registry, registry_text(self.spec, {}))
        argv = controller_argv(
            self.registry, self.proxy_api_addr, self.admin_addr, self.api_addr, self.identity.dir
        )
        self.controller = Supervised(
            "controller",
            argv,
            base_env(),
            self.logs / "controller.log",
            self.report,
        )
        self.controller.start()
        await self._wait_controller()
        self._write_state()
        await self.reconcile()
        await self._wait_ready()

    async def _wait_controller(self) -> None:
        deadline = time.monotonic() + CONTROLLER_READY_TIMEOUT
        while await http_status(self.admin_addr, "/ready") != 200:
            if time.monotonic() > deadline:
                raise UpError(f"the controller did not become ready; see {self.logs / 'controller.log'}")
            if self.stop_event.is_set():
                raise UpError("stopped while starting", 0)
            await asyncio.sleep(0.1)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.opts.ready_timeout
        while not self.stop_event.is_set():
            waiting = [r for r in self.runners.values() if not r.ready]
            if not waiting:
                break
            if time.monotonic() > deadline:
                self.report(f"lightmesh up: not ready after {self.opts.ready_timeout:g}s (still trying):")
                for runner in waiting:
                    self.report(
                        f"  {runner.instance.pod} ({runner.instance.service.key}): {runner.why_not_ready()}"
                    )
                break
            await asyncio.sleep(0.1)
        self.report(self.table())
        if self.opts.banner is not None:
            self.report("\n".join(self.opts.banner(self.state())))

    # -- running -----------------------------------------------------------------------------------

    async def _wait(self) -> None:
        deadline = None if self.opts.duration is None else time.monotonic() + self.opts.duration
        while not self.stop_event.is_set():
            timeout = MESH_POLL if deadline is None else min(MESH_POLL, deadline - time.monotonic())
            if timeout <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout)
            await self._check_mesh_file()

    async def _check_mesh_file(self) -> None:
        try:
            text = self.opts.mesh_file.read_text()
        except OSError as exc:
            if self._mesh_text != "":
                self.report(f"lightmesh up: cannot read the mesh file ({exc}); keeping the running mesh")
                self._mesh_text = ""
            return
        if text == self._mesh_text:
            return
        self._mesh_text = text
        try:
            spec = parse_mesh(text, str(self.opts.mesh_file), self.network.reserved_ports)
        except MeshFileError as exc:
            self.report(f"lightmesh up: {exc}\n  (keeping the running mesh until the file is fixed)")
            return
        for svc in spec.services:
            if self.file_replicas.get(svc.key) != svc.replicas:
                self.scaled.pop(svc.key, None)
        self.file_replicas = {s.key: s.replicas for s in spec.services}
        self.spec = spec
        self.report(f"lightmesh up: {self.opts.mesh_file} changed; applying it")
        await self.reconcile()

    def replicas(self, svc: ServiceSpec) -> int:
        return self.scaled.get(svc.key, svc.replicas)

    async def reconcile(self) -> None:
        """Start and stop instances until each service runs as many as wanted, with its current spec."""
        async with self._lock:
            wanted = {svc.key: svc for svc in self.spec.services}
            stopping = [
                r
                for r in self.runners.values()
                if not r.instance.service.runs_like(wanted.get(r.instance.service.key))
                or r.instance.index >= self.replicas(wanted[r.instance.service.key])
            ]
            for runner in stopping:
                del self.runners[runner.instance.key]
            if stopping:
                reloads = await self._reloads()
                await self.changed()  # out of discovery before they stop
                if self._registry_written:
                    await self._deregistered(reloads)
            await asyncio.gather(*(self._stop_runner(r) for r in stopping))
            for svc in self.spec.services:
                for index in range(self.replicas(svc)):
                    key = f"{svc.key}/{svc.name}-{index}"
                    if key not in self.runners:
                        await self._start_runner(svc, index)
            await self.changed()

    async def _reloads(self) -> float | None:
        return await counter(self.admin_addr, "registry_reloads_total") if self.admin_addr else None

    async def _deregistered(self, before: float | None) -> None:
        """Wait (at most :data:`DEREGISTER_TIMEOUT`) until the controller applied the registry, then
        :data:`DEREGISTER_GRACE` for the update to reach the proxies: no caller picks a stopped instance."""
        deadline = time.monotonic() + DEREGISTER_TIMEOUT
        while before is not None and time.monotonic() < deadline:
            now = await self._reloads()
            if now is None or now > before:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(DEREGISTER_GRACE)

    async def _start_runner(self, svc: ServiceSpec, index: int) -> None:
        instance = self.network.allocate(svc, index, self.proxy_api_addr)
        try:
            await self.identity.provide(instance)
            await self.network.add_pod(instance)
        except (RuntimeError, OSError) as exc:
            self.error(f"lightmesh up: cannot create {instance.pod} ({svc.key}): {exc}")
            await self.network.remove_pod(instance)
            return
        runner = InstanceRunner(instance, self.network, self.logs, self.report, self._ready_changed)
        self.runners[instance.key] = runner
        runner.start()

    async def _stop_runner(self, runner: InstanceRunner) -> None:
        await runner.stop()
        await self.network.remove_pod(runner.instance)
        self.identity.forget(runner.instance)

    def _ready_changed(self) -> None:
        task = asyncio.get_running_loop().create_task(self.changed())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def changed(self) -> None:
        """Write what the others see: the registry, the service addresses, the state file.

        Serialised, each from the state when it runs, so an older picture never lands last."""
        async with self._publishing:
            ready: dict[str, list[Any]] = {}
            for runner in self.runners.values():
                if runner.ready:
                    ready.setdefault(runner.instance.service.key, []).append(runner.instance)
            endpoints = {
                key: [EndpointEntry(i.address, i.pod) for i in instances] for key, instances in ready.items()
            }
            ips = {svc.key: ip for svc in self.spec.services if (ip := self.network.service_ip(svc.key))}
            self._registry_written = write_atomically(self.registry, registry_text(self.spec, endpoints, ips))
            try:
                await self.network.services_changed(self.spec, ready)
            except (RuntimeError, OSError) as exc:
                self.error(f"lightmesh up: cannot update the service addresses: {exc}")
            self._write_state()

    async def _control(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("op") != "scale":
            return {"ok": False, "error": f"unknown op {req.get('op')!r}"}
        name, replicas = req.get("service"), req.get("replicas")
        if not isinstance(name, str) or not isinstance(replicas, int) or not 0 <= replicas <= 64:
            return {"ok": False, "error": "scale needs a service name and replicas from 0 to 64"}
        matches = [s for s in self.spec.services if name in (s.key, s.name)]
        if len(matches) != 1:
            known = ", ".join(s.key for s in self.spec.services)
            why = "is ambiguous, name it NAME.NAMESPACE" if matches else "is not in the mesh file"
            return {"ok": False, "error": f"service {name!r} {why} (services: {known})"}
        svc = matches[0]
        self.scaled[svc.key] = replicas
        self.report(f"lightmesh up: scaling {svc.key} to {replicas}")
        await self.reconcile()
        return {"ok": True, "service": svc.key, "replicas": replicas}

    # -- output ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "mesh_file": str(self.opts.mesh_file.resolve()),
            "api_addr": self.api_addr,
            "controller_admin_addr": self.admin_addr,
            "proxy_api_addr": self.proxy_api_addr,
            "control_socket": str(self.socket),
            "registry_file": str(self.registry),
            "identity_dir": str(self.identity.dir),
            "trust_anchors": str(self.identity.trust_anchors),
            "log_dir": str(self.logs),
            "netns": self.network.netns,
            "controller_pid": self.controller.pid if self.controller else None,
            **self.network.describe(),
            "services": [
                {"service": s.name, "namespace": s.namespace, "port": s.port, "replicas": self.replicas(s)}
                for s in self.spec.services
            ],
            "instances": [
                {**r.instance.describe(), **r.status()}
                for r in sorted(self.runners.values(), key=lambda r: r.instance.key)
            ],
        }

    def _write_state(self) -> None:
        write_state(self.state_file, self.state())

    def table(self) -> str:
        ready = sum(r.ready for r in self.runners.values())
        rows = [["POD", "SERVICE", "MESH ADDRESS", "APP", "OUTBOUND", "ADMIN", ""]]
        for runner in sorted(self.runners.values(), key=lambda r: r.instance.key):
            i = runner.instance
            service = f"{i.service.name}.{i.service.namespace}:{i.service.port}"
            rows.append([
                i.pod, service, i.address, f":{i.app_port}", i.outbound_addr, f"http://{i.admin_addr}/metrics",
                "" if runner.ready else "(not ready)",
            ])  # fmt: skip
        return "\n".join(
            [
                f"lightmesh up: {ready}/{len(self.runners)} instances ready "
                f"({len(self.spec.services)} services); Ctrl-C stops everything",
                f"  controller: public API {self.api_addr}, proxy API {self.proxy_api_addr}, "
                f"admin http://{self.admin_addr}/metrics; identity {self.identity.dir}/",
                *columns(rows),
                f"  state {self.state_file}   logs {self.logs}/",
            ]
        )

    # -- shutdown ----------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        runners = list(self.runners.values())
        self.runners.clear()
        await asyncio.gather(*(self._stop_runner(r) for r in runners))
        await asyncio.gather(*self._tasks, return_exceptions=True)  # nothing writes after this
        if self.controller is not None:
            await self.controller.stop()
        try:
            await self.network.teardown()
        except Exception as exc:
            self.report(f"lightmesh up: cleaning up the network failed: {exc}")
        for path in (self.state_file, self.registry, self.socket):
            path.unlink(missing_ok=True)
        self.identity.remove()
        self.report("lightmesh up: stopped; every process, port and file is cleaned up")
