"""Proxy configuration: defaults, overrides, clear errors, and docs that list every setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightmesh.core.addr import SocketAddr
from lightmesh.proxy.config import SETTINGS, ConfigError, load

DOCS = Path(__file__).resolve().parents[3] / "docs" / "proxy.md"


def test_defaults_match_the_documented_ports() -> None:
    config = load({})
    assert config.outbound_listen_addr == SocketAddr("127.0.0.1", 4140)
    assert config.inbound_listen_addr == SocketAddr("0.0.0.0", 4143)
    assert config.admin_listen_addr == SocketAddr("0.0.0.0", 4191)
    assert config.inbound_forward is None
    assert config.opaque_ports == frozenset({25, 587, 3306, 4444, 5432, 6379, 9300, 11211})
    assert config.detect_timeout == 10.0
    assert config.outbound_connect_timeout == 1.0


def test_flag_overrides_win_over_the_environment() -> None:
    config = load({"LIGHTMESH_PROXY_INBOUND_FORWARD": "127.0.0.1:1"}, {"inbound_forward": "127.0.0.1:2"})
    assert config.inbound_forward == SocketAddr("127.0.0.1", 2)


def test_static_destinations_are_parsed_by_authority() -> None:
    config = load(
        {"LIGHTMESH_PROXY_STATIC_DESTINATIONS": "web:80=127.0.0.1:8080,127.0.0.1:8081;db:5432=10.0.0.1:5432"}
    )
    assert config.static_destinations["web:80"] == [
        SocketAddr("127.0.0.1", 8080),
        SocketAddr("127.0.0.1", 8081),
    ]
    assert config.static_destinations["db:5432"] == [SocketAddr("10.0.0.1", 5432)]


def test_every_bad_value_is_reported_at_once() -> None:
    env = {
        "LIGHTMESH_PROXY_DETECT_TIMEOUT": "10",
        "LIGHTMESH_PROXY_INBOUND_FORWARD": "nowhere",
        "LIGHTMESH_PROXY_LOG_LEVEL": "loud",
        "LIGHTMESH_PROXY_TYPO": "1",
    }
    with pytest.raises(ConfigError) as info:
        load(env)
    message = str(info.value)
    for name in env:
        assert name in message


def test_docs_list_every_setting_with_its_default() -> None:
    text = DOCS.read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in text, setting.env
        assert f"`{setting.default or '(empty)'}`" in text, setting.env


IDENTITY = "web.default.serviceaccount.identity.lightmesh.cluster.local"


def test_identity_is_off_by_default_and_needs_token_bundle_and_service_when_on() -> None:
    assert load({}).identity_local_name is None
    with pytest.raises(ConfigError) as info:
        load({"LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME": IDENTITY})
    message = str(info.value)
    for name in (
        "IDENTITY_TOKEN_FILE",
        "IDENTITY_TRUST_ANCHORS",
        "IDENTITY_ADDR or LIGHTMESH_PROXY_CONTROLLER_ADDR",
    ):
        assert name in message
    config = load(
        {
            "LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME": IDENTITY,
            "LIGHTMESH_PROXY_IDENTITY_TOKEN_FILE": "/var/run/token",
            "LIGHTMESH_PROXY_IDENTITY_TRUST_ANCHORS": "/etc/anchors.pem",
            "LIGHTMESH_PROXY_CONTROLLER_ADDR": "10.0.0.5:8086",
        }
    )
    assert config.identity_service_addr == SocketAddr("10.0.0.5", 8086)
    assert load({"LIGHTMESH_PROXY_IDENTITY_ADDR": "10.0.0.6:8080"}).identity_addr == SocketAddr(
        "10.0.0.6", 8080
    )


def test_an_identity_that_is_not_a_workload_identity_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"(?s)LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME.*serviceaccount"):
        load({"LIGHTMESH_PROXY_IDENTITY_LOCAL_NAME": "web.default.svc.cluster.local"})
