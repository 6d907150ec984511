"""Running a real ``lightmesh controller`` process, and a grpcio client for its Destination API.

:class:`ControllerProcess` starts the controller on free loopback ports over a registry
file, waits until ``/ready`` answers 200, and stops it with SIGTERM (by PID). Its output
goes to a log file next to the registry (never a pipe that could fill up), so tests can
read what it logged. :func:`launch` retries with new ports when one was taken meanwhile.

:class:`UpdateStream` is one server-streaming call made with **grpcio** (an independent
implementation from the controller's grpclib) through ``channel.unary_stream`` and the
committed protobuf classes. A thread reads the stream into a queue, so every read has a
bounded wait: :meth:`UpdateStream.next` fails after ``timeout`` seconds, and
:meth:`UpdateStream.assert_quiet` checks that nothing arrives for a while.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from lightmesh.api.gen import destination_pb2 as pb
from tests.support.proxy import free_port

SERVICE = "/lightmesh.destination.Destination"
TIMEOUT = 10.0
CALL_DEADLINE = 60.0  # every call ends by then even if a test forgets it


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step, as a careful editor or a ConfigMap update does."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class ControllerProcess:
    def __init__(self, registry: Path, *args: str, poll_interval: float = 0.05) -> None:
        self.registry = registry
        self.api_port = free_port()
        self.admin_port = free_port()
        self.public_port = free_port()
        self.log_path = registry.with_name(f"controller-{self.api_port}.log")
        self.args = [
            "--registry", str(registry),
            "--proxy-api-addr", self.api,
            "--admin-addr", self.admin,
            "--public-api-addr", self.public_api,
            "--log-level", "debug",
            "--registry-poll-interval", str(poll_interval),
            *args,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._streams: list[UpdateStream] = []

    @property
    def api(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    @property
    def public_api(self) -> str:
        return f"127.0.0.1:{self.public_port}"

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = TIMEOUT) -> ControllerProcess:
        env = {**os.environ, "RES_OPTIONS": "attempts:0"}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lightmesh", "controller", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"controller exited ({self.proc.returncode}): {self.log()}")
            if self.http_status("/ready") == 200:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"controller did not become ready: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def http_status(self, path: str) -> int | None:
        try:
            return self.http(path)[0]
        except OSError:
            return None

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        total = 0.0
        for family in text_string_to_metric_families(self.http("/metrics")[1]):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def channel(self) -> grpc.Channel:
        if self._channel is None:
            options = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
            self._channel = grpc.insecure_channel(self.api, options=options)
        return self._channel

    def get(self, path: str, namespace: str = "", scheme: str = "k8s") -> UpdateStream:
        request = pb.GetDestination(scheme=scheme, path=path, namespace=namespace)
        return self._stream("Get", request, pb.Update)

    def get_profile(self, path: str, namespace: str = "") -> UpdateStream:
        request = pb.GetDestination(scheme="k8s", path=path, namespace=namespace)
        return self._stream("GetProfile", request, pb.DestinationProfile)

    def _stream(self, method: str, request: pb.GetDestination, reply: Any) -> UpdateStream:
        call = self.channel().unary_stream(
            f"{SERVICE}/{method}",
            request_serializer=pb.GetDestination.SerializeToString,
            response_deserializer=reply.FromString,
        )(request, timeout=CALL_DEADLINE)
        stream = UpdateStream(call)
        self._streams.append(stream)
        return stream

    def stop(self, timeout: float = TIMEOUT) -> int:
        """Cancel open calls, SIGTERM the process, wait; returns its exit code."""
        for stream in self._streams:
            stream.cancel()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"controller did not stop within {timeout}s: {self.log()}") from None


def launch(registry: Path, *args: str, attempts: int = 3) -> ControllerProcess:
    """Start a controller; retried on new ports if a chosen port was taken before it bound."""
    for attempt in range(attempts):
        controller = ControllerProcess(registry, *args)
        try:
            return controller.start()
        except RuntimeError as exc:
            if "in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class UpdateStream:
    """A grpcio server-streaming call whose messages are read by a thread into a queue."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self._messages: queue.Queue[Any] = queue.Queue()
        self._end: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self._messages.put(message)
        except grpc.RpcError as exc:
            self._end = exc
        self._messages.put(None)

    def next(self, timeout: float = TIMEOUT) -> Any:
        """The next message; fails if the stream ended or nothing came within ``timeout``."""
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s") from None
        if message is None:
            raise AssertionError(f"the stream ended: {self._end!r}")
        return message

    def end(self, timeout: float = TIMEOUT) -> grpc.RpcError | None:
        """Wait for the stream to end (skipping messages); the error it ended with, if any."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream did not end within {timeout}s"
        return self._end

    def assert_quiet(self, within: float = 0.5) -> None:
        """Nothing arrives for ``within`` seconds."""
        try:
            message = self._messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message: {message}")

    def cancel(self) -> None:
        self.call.cancel()
        self._thread.join(5)
