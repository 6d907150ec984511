"""What the mesh path refuses, checked from outside with independent TLS clients.

* a client without a certificate (``openssl s_client``) fails the handshake;
* client certificates that are expired or not yet valid (made with the mesh's own
  issuer, so only their dates are wrong) are rejected, while the same certificate
  with valid dates is accepted;
* a proxy serves no mesh TLS and is not ready before it has its identity;
* sslyze reports TLS 1.3 only and client certificates required on the inbound port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.identity import leaf, tls_request
from tests.support.mesh import CLIENT, WEB, Mesh
from tests.support.proxy import ProxyProcess
from tests.support.tcp_client import wait_until
from tests.support.upstream import UpstreamServer

SSLYZE = Path(os.environ.get("LIGHTMESH_TEST_SSLYZE", "/opt/sslyze/bin/sslyze"))


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, ProxyProcess]]:
    with UpstreamServer() as app:
        running = Mesh(tmp_path_factory.mktemp("mesh"), app.addr)
        try:
            _, server = running.start()
            yield running, server
        finally:
            running.stop()


def test_a_client_without_a_certificate_is_refused(mesh: tuple[Mesh, ProxyProcess]) -> None:
    running, server = mesh
    done = subprocess.run(
        ["openssl", "s_client", "-connect", server.inbound, "-servername", WEB, "-tls1_3",
         "-CAfile", str(running.anchors), "-ign_eof"],
        input="GET /echo HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "alert certificate required" in output, output
    assert "HTTP/1.1" not in done.stdout
    assert server.metric("inbound_tls_errors_total", error="handshake_failed") >= 1


def test_a_meshed_client_certificate_is_accepted(mesh: tuple[Mesh, ProxyProcess], tmp_path: Path) -> None:
    running, server = mesh
    now = dt.datetime.now(dt.UTC)
    chain, key = _write(
        tmp_path, *leaf(running.dir, CLIENT, now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1))
    )
    response = tls_request(server.inbound, WEB, running.anchors, chain, key)
    assert response.startswith(b"HTTP/1.1 200")
    assert CLIENT.encode() in response  # the app saw lightmesh-client-id


@pytest.mark.parametrize(
    ("start", "end", "alert"),
    [
        (dt.timedelta(hours=-2), dt.timedelta(hours=-1), "certificate expired"),
        (dt.timedelta(hours=1), dt.timedelta(hours=2), "certificate"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_expired_or_not_yet_valid_client_certificates_are_refused(
    mesh: tuple[Mesh, ProxyProcess], tmp_path: Path, start: dt.timedelta, end: dt.timedelta, alert: str
) -> None:
    running, server = mesh
    now = dt.datetime.now(dt.UTC)
    chain, key = _write(tmp_path, *leaf(running.dir, CLIENT, now + start, now + end))
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as info:
        tls_request(server.inbound, WEB, running.anchors, chain, key)
    assert alert in str(info.value).lower().replace("_", " ")


def test_opaque_tcp_from_a_peer_proxy_needs_a_transport_header(
    mesh: tuple[Mesh, ProxyProcess], tmp_path: Path
) -> None:
    """ALPN lightmesh.opaque: the header names the app's port (here the forward address wins), the rest is
    relayed as bytes, so the app answers the HTTP request it carried; a stream without one is closed."""
    running, server = mesh
    now = dt.datetime.now(dt.UTC)
    chain, key = _write(
        tmp_path, *leaf(running.dir, CLIENT, now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1))
    )
    args = (server.inbound, WEB, running.anchors, chain, key, "lightmesh.opaque")
    response = tls_request(*args, preamble=b"LMT1 8080\n")
    assert response.startswith(b"HTTP/1.1 200")
    assert CLIENT.encode() not in response  # relayed as bytes: no lightmesh-client-id added
    try:
        refused = tls_request(*args)  # "GET /echo ..." is not a transport header
    except (ConnectionResetError, ssl.SSLError):
        refused = b""  # aborted: a reset may arrive before or instead of the end of the stream
    assert refused == b""


def test_tls_for_another_name_is_relayed_untouched(mesh: tuple[Mesh, ProxyProcess]) -> None:
    """TLS the proxy is not the server for goes to the application as opaque bytes."""
    running, server = mesh
    with pytest.raises(ssl.SSLError, match=r"WRONG_VERSION_NUMBER|record layer failure|wrong version"):
        tls_request(server.inbound, "api.example.com", running.anchors)  # the plain-HTTP app answers


def _write(tmp: Path, chain: bytes, key: bytes) -> tuple[Path, Path]:
    (tmp / "chain.pem").write_bytes(chain)
    (tmp / "key.pem").write_bytes(key)
    return tmp / "chain.pem", tmp / "key.pem"


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_no_mesh_tls_and_not_ready_before_the_identity_then_ready_once_certified(
    mesh: tuple[Mesh, ProxyProcess], tmp_path: Path
) -> None:
    running, _ = mesh
    token = tmp_path / "late.token"
    token.write_text("lmt_not-yet-valid\n")
    proxy = ProxyProcess(
        {**running.proxy_env("web.default", WEB), "LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE": str(token)}
    )
    proxy.proc = subprocess.Popen(
        [sys.executable, "-m", "lightmesh", "proxy"], env=proxy.env, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: _alive(proxy), 10, "the proxy's admin listener")
        assert _http(f"http://{proxy.admin}/ready")[0] == 503
        assert _http(f"http://{proxy.admin}/identity") == (503, "no certificate yet\n")
        with pytest.raises((ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
            tls_request(proxy.inbound, WEB, running.anchors)
        assert proxy.metric("inbound_tls_errors_total", error="no_identity") == 1
        wait_until(lambda: proxy.metric("identity_cert_refresh_failures_total") >= 1, 10, "a failed attempt")
        token.write_text(running.tokens["web.default"] + "\n")  # the operator fixes the token
        wait_until(lambda: _http(f"http://{proxy.admin}/ready")[0] == 200, 30, "ready once certified")
        info = json.loads(_http(f"http://{proxy.admin}/identity")[1])
        assert info["identity"] == WEB
        # prometheus-client's parser names counter samples ..._total
        assert proxy.metric("identity_cert_refresh_count_total") == 1
        assert proxy.metric("identity_cert_expiration_timestamp_seconds") > time.time() + 23 * 3600
    finally:
        _, err = proxy.stop()
    assert "certification failed" in err
    assert "UNAUTHENTICATED" in err


def _alive(proxy: ProxyProcess) -> bool:
    try:
        return _http(f"http://{proxy.admin}/live")[0] == 200
    except OSError:
        return False


@pytest.mark.skipif(
    not SSLYZE.exists(), reason=f"sslyze not installed at {SSLYZE} (scripts/test.sh installs it)"
)
def test_sslyze_sees_tls13_only_and_required_client_certificates(
    mesh: tuple[Mesh, ProxyProcess], tmp_path: Path
) -> None:
    _, server = mesh
    host, port = server.inbound.split(":")
    out = tmp_path / "sslyze.json"
    done = subprocess.run(
        [str(SSLYZE), "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
         f"--json_out={out}", f"{WEB}:{port}{{{host}}}"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "RES_OPTIONS": "attempts:0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())["server_scan_results"][0]
    assert result["scan_status"] == "COMPLETED", result
    probing = result["connectivity_result"]
    assert probing["client_auth_requirement"] == "REQUIRED"
    commands = result["scan_result"]
    accepted = {
        name: commands[name]["result"]["accepted_cipher_suites"]
        for name in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                     "tls_1_1_cipher_suites", "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")
    }  # fmt: skip
    assert accepted["tls_1_3_cipher_suites"], commands["tls_1_3_cipher_suites"]
    assert all(not suites for name, suites in accepted.items() if name != "tls_1_3_cipher_suites")
    assert probing["highest_tls_version_supported"] == "TLS_1_3"
