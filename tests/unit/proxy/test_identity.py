"""The proxy's certificate lifecycle in virtual time (looptime): first certificate, refresh at
70% of the lifetime, backoff on failures, expiry, and the checks made before installing.

The certifier is a real :class:`~lightmesh.controller.identity.pki.Issuer` behind a fake
transport; the proxy's wall clock follows the loop's virtual clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import looptime
import pytest

from lightmesh.api.gen import identity_pb2 as pb
from lightmesh.controller.identity import pki
from lightmesh.core.errors import UpstreamError
from lightmesh.proxy import identity as proxy_identity
from lightmesh.proxy.identity import CertifyError, LocalIdentity

NAME = "web.default.serviceaccount.identity.lightmesh.cluster.local"
BASE = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()


class FakeController:
    """Signs CSRs with a real issuer; fails while ``failing`` is positive."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, lifetime: float = 100.0, identity: str = NAME
    ) -> None:
        self.loop = loop
        self.calls: list[float] = []
        self.failing = 0
        self.identity = identity
        now = self.now()
        root_key, self.root = pki.make_root("root.test", now)
        key, cert = pki.make_issuer(root_key, self.root, "identity.test", now)
        self.issuer = pki.Issuer(key, cert, (self.root,), dt.timedelta(seconds=lifetime), dt.timedelta(0))

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC)

    def wall(self) -> float:
        return BASE + self.loop.time()

    async def __call__(self, request: pb.CertifyRequest) -> pb.CertifyResponse:
        self.calls.append(self.loop.time())
        assert request.token == b"secret-token"
        if self.failing:
            self.failing -= 1
            raise CertifyError("controller unavailable")
        leaf, chain, until = self.issuer.certify(
            self.identity, request.certificate_signing_request, self.now()
        )
        response = pb.CertifyResponse(leaf_certificate=leaf, intermediate_certificates=chain)
        response.valid_until.FromDatetime(until)
        return response


def run(test: Callable[[], Coroutine[Any, Any, None]], virtual: bool = True) -> None:
    """Run a test body on its own loop; ``virtual``: looptime's, where sleeps take no real time.

    (The suite's tests run their loops themselves rather than through pytest-asyncio.)"""
    factory = (lambda: looptime.new_event_loop(start=0)) if virtual else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(test())


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    token = tmp_path / "token"
    token.write_text("secret-token\n")
    return token, tmp_path / "anchors.pem"


def make(files: tuple[Path, Path], controller: FakeController) -> LocalIdentity:
    token, anchors = files
    anchors.write_bytes(pki.pem(controller.root))
    return LocalIdentity(NAME, token, anchors, controller, controller.wall)


def test_not_ready_and_no_mesh_tls_until_certified_then_refresh_at_70_percent(
    files: tuple[Path, Path],
) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop(), lifetime=100.0)
        identity = make(files, controller)
        assert not identity.valid
        assert identity.server_context() is None
        with pytest.raises(UpstreamError, match="no certificate yet"):
            identity.client_tls("peer", "h2")
        task = asyncio.create_task(identity.run())
        await identity.certified.wait()
        assert identity.valid
        assert identity.server_context() is not None
        first = identity.contexts
        await asyncio.sleep(250)
        task.cancel()
        # certified at t=0, then 70% of 100 s later, every time
        assert [round(t) for t in controller.calls] == [0, 70, 140, 210]
        assert identity.refreshes == 4
        assert identity.contexts is not first  # swapped, not mutated: open connections keep theirs
        assert identity.info()["identity"] == NAME  # type: ignore[index]

    run(body)


def test_failures_back_off_exponentially_and_say_how_long_is_left(
    files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop(), lifetime=1000.0)
        identity = make(files, controller)
        task = asyncio.create_task(identity.run())
        await asyncio.sleep(1)
        controller.failing = 5
        caplog.set_level(logging.ERROR)
        await asyncio.sleep(700 + 40)  # the refresh at 700 s fails five times, then succeeds
        task.cancel()
        calls = controller.calls
        assert calls[1] == pytest.approx(700, abs=1)
        gaps = [b - a for a, b in itertools.pairwise(calls[1:])]
        assert len(gaps) == 5
        for gap, base in zip(gaps, [1, 2, 4, 8, 16], strict=True):
            assert base * 0.5 <= gap <= base  # jittered exponential backoff
        assert identity.failures == 5
        assert identity.refreshes == 2
        assert "the current certificate expires in 29" in caplog.text

    run(body)


def test_an_expired_certificate_makes_the_proxy_not_ready(files: tuple[Path, Path]) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop(), lifetime=10.0)
        identity = make(files, controller)
        task = asyncio.create_task(identity.run())
        await identity.certified.wait()
        controller.failing = 1000
        await asyncio.sleep(5)
        assert identity.valid
        await asyncio.sleep(10)
        assert not identity.valid
        assert identity.server_context() is None
        task.cancel()

    run(body)


def test_backoff_is_capped(files: tuple[Path, Path]) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop())
        controller.failing = 1000
        identity = make(files, controller)
        task = asyncio.create_task(identity.run())
        await asyncio.sleep(600)
        task.cancel()
        gaps = [b - a for a, b in itertools.pairwise(controller.calls)]
        assert max(gaps) <= proxy_identity.BACKOFF_MAX
        assert not identity.valid

    run(body)


def test_a_certificate_for_another_identity_is_not_installed(files: tuple[Path, Path]) -> None:
    async def body() -> None:
        controller = FakeController(
            asyncio.get_running_loop(), identity="evil.default.serviceaccount.identity.x.y"
        )
        identity = make(files, controller)
        with pytest.raises(pki.PkiError):  # the real issuer already refuses the mismatched CSR
            await identity.certify_once()

    run(body)


def test_a_certificate_that_does_not_chain_to_the_trust_bundle_is_not_installed(
    files: tuple[Path, Path],
) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop())
        identity = make(files, controller)
        _, other = pki.make_root("other.test", controller.now())
        files[1].write_bytes(pki.pem(other))
        with pytest.raises(CertifyError, match="does not verify"):
            await identity.certify_once()

    run(body)


def test_a_missing_token_file_is_a_clear_error(files: tuple[Path, Path]) -> None:
    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop())
        identity = make(files, controller)
        files[0].unlink()
        with pytest.raises(CertifyError, match=r"cannot read .*token"):
            await identity.certify_once()

    run(body)


def test_metrics_families_name_the_linkerd_metrics(files: tuple[Path, Path]) -> None:
    rendered: list[str] = []

    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop())
        identity = make(files, controller)
        identity.install(await identity.certify_once())
        rendered.append("".join(f.render() for f in identity.families()))

    run(body, virtual=False)
    assert "identity_cert_refresh_count 1\n" in rendered[0]
    assert "identity_cert_expiration_timestamp_seconds 1" in rendered[0]


def test_an_identity_longer_than_a_common_name_is_certified_by_its_san_alone(
    files: tuple[Path, Path],
) -> None:
    long_name = "vote-bot.emojivoto.serviceaccount.identity.lightmesh.cluster.local"  # 66 > 64 characters

    async def body() -> None:
        controller = FakeController(asyncio.get_running_loop(), identity=long_name)
        token, anchors = files
        anchors.write_bytes(pki.pem(controller.root))
        identity = LocalIdentity(long_name, token, anchors, controller, controller.wall)
        task = asyncio.create_task(identity.run())
        await identity.certified.wait()
        task.cancel()
        assert identity.valid and identity.info()["identity"] == long_name  # type: ignore[index]

    run(body)
