"""The proxy carries a plain request both ways and counts it."""

from __future__ import annotations

import json
import urllib.request

from tests.support.proxy import ProxyProcess
from tests.support.upstream import UpstreamServer


def test_inbound_forwards_to_the_application_and_counts_it(proxy: ProxyProcess) -> None:
    with urllib.request.urlopen(f"http://{proxy.inbound}/echo") as response:
        info = json.loads(response.read())
    assert info["method"] == "GET"
    assert proxy.metric("request_total", direction="inbound") == 1
    ok = {"direction": "inbound", "status_code": "200", "classification": "success"}
    assert proxy.metric("response_total", **ok) == 1


def test_outbound_routes_by_host_as_an_http_proxy(proxy: ProxyProcess, upstream: UpstreamServer) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{proxy.outbound}"}))
    with opener.open(f"http://{upstream.addr}/echo") as response:
        info = json.loads(response.read())
    assert info["path"] == "/echo"
    assert proxy.metric("request_total", direction="outbound", authority=upstream.addr) == 1
