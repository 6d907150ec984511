"""Real peers for the HTTP/1 integration tests, all on loopback.

* :class:`TrackingUpstream`: the standard test application that also records every
  TCP connection it accepts and every request head it parses, so tests can count
  upstream connections and requests from the upstream's own point of view
  (``/conn`` ids alone can repeat after a close, as they are Python object ids).
* :class:`BacklogSink`: a listener that never accepts and whose accept queue is
  full, so a connect to it hangs (SYNs are dropped): a connect timeout on loopback.
* :func:`closed_port`: a loopback port nobody listens on (connect is refused).
* :func:`curl`: run ``/usr/bin/curl`` with a hard ``--max-time``.
* :func:`launch`, :func:`start_isolated`, :func:`running_proxy`: a proxy whose DNS
  lookups never leave the host, whose shutdown grace period is short, and whose
  start is retried when a chosen port was taken meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.proxy import ProxyProcess
from tests.support.upstream import Handler, UpstreamServer

CURL = "/usr/bin/curl"
# glibc: zero attempts means a lookup that misses /etc/hosts fails without sending a
# single packet, so "no DNS answer" is tested without touching the network. A short
# grace period keeps teardown quick when a test leaves a request in flight.
ISOLATED = {"RES_OPTIONS": "attempts:0", "LIGHTMESH_PROXY_SHUTDOWN_GRACE_PERIOD": "1s"}


class RecordingHandler(Handler):
    """The test application's handler, also recording each request head it parsed."""

    server: TrackingUpstream
    disable_nagle_algorithm = True  # head and body are separate writes: no 40 ms Nagle stalls

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            with self.server._lock:
                self.server.heads.append((self.command, self.path))
        return ok


class TrackingUpstream(UpstreamServer):
    """:class:`UpstreamServer` that records every accepted connection and every request head.

    ``peers`` lists the connections' client addresses, ``heads`` the ``(method,
    path)`` of each request the application parsed, in arrival order: evidence of
    what reached the upstream that does not depend on ``requests`` (which also
    counts a connection's wait for its next request).
    """

    request_queue_size = 256  # listen backlog: floods relayed by the proxy must not overflow it

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = RecordingHandler
        self.peers: list[tuple[str, int]] = []
        self.heads: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        # A short poll interval makes shutdown() (fixture teardown) quick.
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.peers.append(tuple(client_address[:2]))
        super().process_request(request, client_address)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.peers)

    def received(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request head the application has parsed so far."""
        with self._lock:
            return list(self.heads)


class BacklogSink:
    """A listening socket that never accepts, with its backlog pre-filled.

    With ``listen(0)`` Linux queues one established connection; once that slot is
    taken further SYNs are dropped, so any later ``connect`` hangs until its own
    timeout. ``fill`` extra non-blocking connects make sure the queue is full.
    """

    def __init__(self, fill: int = 3) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = int(self.listener.getsockname()[1])
        self.fillers: list[socket.socket] = []
        for _ in range(fill):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.1)  # let the handshakes that can complete complete

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connect_hangs(self, timeout: float = 0.3) -> bool:
        """Check the trick works on this kernel: a fresh connect does not complete in ``timeout``."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(timeout)
        try:
            probe.connect(("127.0.0.1", self.port))
        except TimeoutError:
            return True
        except OSError:
            return False
        finally:
            probe.close()
        return False

    def __enter__(self) -> BacklogSink:
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.fillers:
            s.close()
        self.listener.close()


def closed_port() -> int:
    """A loopback port that was just free: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def curl(*args: str, max_time: float = 10.0) -> subprocess.CompletedProcess[bytes]:
    """Run curl quietly with a hard time limit and no proxy from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", str(max_time), *args],
        capture_output=True,
        env=env,
        timeout=max_time + 5,
        check=False,
    )


def launch(
    env: dict[str, str], prepare: Callable[[ProxyProcess], None] | None = None, attempts: int = 3
) -> ProxyProcess:
    """Start an isolated proxy (see :data:`ISOLATED`), with ``env`` on top.

    ``prepare`` may adjust the :class:`ProxyProcess` (its ports are chosen by then)
    before it starts. A port chosen by ``free_port`` can be taken by someone else
    before the proxy binds it; that start is cleaned up and retried with new ports.
    A failed start never leaves a process or a pipe behind.
    """
    for attempt in range(attempts):
        proxy = ProxyProcess({**ISOLATED, **env})
        if prepare is not None:
            prepare(proxy)
        try:
            return proxy.start()
        except RuntimeError as exc:
            if proxy.proc is not None:
                proxy.stop(timeout=5)
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_proxy(**env: str) -> Iterator[ProxyProcess]:
    """A proxy for a whole module (see :func:`launch`), stopped at the end."""
    proxy = launch(env)
    try:
        yield proxy
    finally:
        proxy.stop()


def start_isolated(request: pytest.FixtureRequest, **env: str) -> ProxyProcess:
    """A proxy (see :func:`launch`) stopped when ``request``'s test or fixture finishes."""
    proxy = launch(env)
    request.addfinalizer(proxy.stop)
    return proxy
