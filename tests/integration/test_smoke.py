"""The proxy carries a plain request both ways and counts it."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

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


def test_serving_http1_loads_neither_the_idna_codec_nor_unicode_tables(proxy: ProxyProcess) -> None:
    with urllib.request.urlopen(f"http://{proxy.inbound}/echo") as response:
        response.read()
    assert not proxy.has_loaded("unicodedata")  # what the IDNA codec imports


def test_a_listen_port_in_use_stops_the_proxy_with_the_address_named() -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    proxy = ProxyProcess({"LIGHTMESH_PROXY_INBOUND_LISTEN_ADDR": f"127.0.0.1:{port}"})
    try:
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}: address already in use"):
            proxy.start()
    finally:
        taken.close()
