"""Running a real ``lightmesh proxy`` process for integration tests.

:class:`ProxyProcess` starts the proxy on free loopback ports with the given
settings, waits until ``/ready`` answers 200, and stops it with SIGTERM (by PID).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from lightmesh.local import probes


def free_port() -> int:
    """A port for a listener a test starts in another process: outside the ephemeral range,
    so no client connection of the test takes it first (see lightmesh.local.probes)."""
    return probes.free_port()


class ProxyProcess:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.outbound_port = free_port()
        self.inbound_port = free_port()
        self.admin_port = free_port()
        self.tap_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LIGHTMESH_")},
            "LIGHTMESH_PROXY_OUTBOUND_LISTEN_ADDR": f"127.0.0.1:{self.outbound_port}",
            "LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"127.0.0.1:{self.inbound_port}",
            "LIGHTMESH_PROXY_ADMIN_LISTEN_ADDR": f"127.0.0.1:{self.admin_port}",
            "LIGHTMESH_PROXY_TAP_LISTEN_ADDR": f"127.0.0.1:{self.tap_port}",
            "LIGHTMESH_PROXY_LOG_LEVEL": "debug",
            # the machine's resolver is off-host: never let a test's name lookup leave loopback
            "RES_OPTIONS": "attempts:0",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def outbound(self) -> str:
        return f"127.0.0.1:{self.outbound_port}"

    @property
    def inbound(self) -> str:
        return f"127.0.0.1:{self.inbound_port}"

    @property
    def tap(self) -> str:
        return f"127.0.0.1:{self.tap_port}"

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 10.0) -> ProxyProcess:
        """Start and wait for /ready; on failure nothing is left running or open."""
        try:
            return self._start(timeout)
        except BaseException:
            if self.proc is not None:
                self.proc.kill()
                self.proc.communicate()
            raise

    def _start(self, timeout: float) -> ProxyProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lightmesh", "proxy"], env=self.env, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"proxy exited: {err}")
            try:
                with urllib.request.urlopen(f"http://{self.admin}/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("proxy did not become ready")

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        total = 0.0
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def rss_kb(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def has_loaded(self, library: str) -> bool:
        """Whether the proxy process has mapped a file whose path contains ``library``."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return any(library in line for line in f)

    def hwm_kb(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout: float = 10.0) -> tuple[int, str]:
        """SIGTERM, wait, and return (exit code, stderr text)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, (err or b"").decode()
