"""``lightmesh tap`` and ``lightmesh version`` against a real controller and proxies.

``tap`` prints Linkerd's req/rsp/end lines for live requests (or JSON objects with
headers); ``version`` prints the client's and the control plane's versions and says
"unavailable" with a hint when nothing answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from lightmesh import __version__
from tests.support.cli import CliProcess, run_cli
from tests.support.controller import ControllerProcess
from tests.support.proxy import ProxyProcess, free_port
from tests.support.public import wait_for_pods
from tests.support.tcp_client import http_request

Meshed = Callable[[str, str], ProxyProcess]
FLOW = r"proxy=in  src=127\.0\.0\.1:\d+ dst=web-0:\d+ tls="  # dst: the pod, as linkerd shows it


def _collect(tap: CliProcess, proxy: ProxyProcess, path: str, wanted: int) -> list[str]:
    """Send requests until ``wanted`` lines came and the command ended (its --limit)."""
    lines: list[str] = []
    for _ in range(300):
        if tap.proc.poll() is None:
            http_request(proxy.inbound, "GET", path, headers={"Host": "web:80", "Authorization": "secret"})
        while (line := tap.next_line()) is not None:
            lines.append(line)
        if tap.proc.poll() is not None and tap.lines.empty():
            break
    assert tap.wait()[0] == 0
    assert len(lines) == wanted, lines
    return lines


def test_tap_prints_live_requests_in_linkerds_format(controller: ControllerProcess, meshed: Meshed) -> None:
    proxy = meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    tap = CliProcess(
        "tap", "deploy/web", "--path", "/bytes/", "--limit", "1", "--api-addr", controller.public_api
    )
    try:
        req, rsp, end = _collect(tap, proxy, "/bytes/42", 3)
    finally:
        tap.stop()
    assert re.fullmatch(rf"req id=\d+:\d+ {FLOW} :method=GET :authority=web:80 :path=/bytes/42", req), req
    assert re.fullmatch(rf"rsp id=\d+:\d+ {FLOW} :status=200 latency=\d+µs", rsp), rsp
    assert re.fullmatch(rf"end id=\d+:\d+ {FLOW} duration=\d+µs response-length=42B", end), end
    assert req.split()[1] == rsp.split()[1] == end.split()[1]


def test_tap_json_carries_redacted_headers(controller: ControllerProcess, meshed: Meshed) -> None:
    proxy = meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    tap = CliProcess("tap", "po/web-0", "--limit", "1", "-o", "json", "--api-addr", controller.public_api)
    try:
        lines = _collect(tap, proxy, "/status/201", 3)
    finally:
        tap.stop()
    req = json.loads(lines[0])["requestInitEvent"]
    headers = {h["name"]: h["value"] for h in req["headers"]}
    assert headers["authorization"] == "[redacted]"
    assert headers["host"] == "web:80"
    assert json.loads(lines[1])["responseInitEvent"]["httpStatus"] == 201


def test_tap_of_nothing_says_so(controller: ControllerProcess) -> None:
    result = run_cli("tap", "deploy/ghost", "--api-addr", controller.public_api)
    assert result.returncode == 1
    assert "no announced proxy with tap for service/ghost" in result.stderr


def test_version_shows_client_and_control_plane(controller: ControllerProcess) -> None:
    result = run_cli("version", "--api-addr", controller.public_api)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Client version: {__version__}\nServer version: {__version__}\n"


def test_version_without_a_control_plane_is_unavailable_with_a_hint() -> None:
    result = run_cli("version", LIGHTMESH_API_ADDR=f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stdout.endswith("Server version: unavailable\n")
    assert "from LIGHTMESH_API_ADDR" in result.stderr
    assert "lightmesh up" in result.stderr


def test_top_counts_live_requests_per_path(controller: ControllerProcess, meshed: Meshed) -> None:
    proxy = meshed("web", "web-0")
    wait_for_pods(controller.public_api, {"web-0"})
    top = CliProcess("top", "deploy/web", "--limit", "4", "--api-addr", controller.public_api)
    try:
        for i in range(400):
            if top.proc.poll() is not None:
                break
            http_request(proxy.inbound, "GET", "/status/500" if i % 2 else "/status/200")
        code, stderr = top.wait()
        lines = []
        while (line := top.next_line(timeout=1.0)) is not None:
            lines.append(line)
    finally:
        top.stop()
    assert code == 0, stderr
    assert lines[0].split() == [
        "Source", "Destination", "Method", "Path", "Count", "Best", "Worst", "Last", "Success", "Rate",
    ]  # fmt: skip
    rows = {line.split()[3]: line.split() for line in lines[1:]}
    assert rows["/status/200"][4] == "2" and rows["/status/200"][-1] == "100.00%"
    assert rows["/status/500"][4] == "2" and rows["/status/500"][-1] == "0.00%"
    assert rows["/status/200"][1] == "web-0"
