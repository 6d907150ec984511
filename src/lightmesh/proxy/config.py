"""Proxy settings from ``LIGHTMESH_PROXY_*`` environment variables (flags may override).

Every setting is declared once in :data:`SETTINGS` with its default and parser;
``docs/proxy.md`` documents the same table. :func:`load` validates all of them at
start-up and raises :class:`ConfigError` listing every bad value, so a typo never
starts a half-configured proxy. Durations need a unit (``100ms``, ``10s``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from lightmesh.core.addr import SocketAddr, parse_ports, parse_socket_addr, parse_static_destinations
from lightmesh.core.durations import parse_duration
from lightmesh.core.identity import check_identity

PREFIX = "LIGHTMESH_PROXY_"
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_INSTANCE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9._]{0,252}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")


class ConfigError(ValueError):
    pass


def _optional_addr(text: str) -> SocketAddr | None:
    return parse_socket_addr(text) if text.strip() else None


def _namespace(text: str) -> str:
    value = text.strip()
    if not _LABEL.fullmatch(value):
        raise ValueError(f"invalid namespace {text!r}: lower-case letters, digits and '-', at most 63")
    return value


def _optional_identity(text: str) -> str | None:
    return check_identity(text) if text.strip() else None


def _optional_path(text: str) -> str | None:
    return text.strip() or None


def _optional_label(text: str) -> str:
    value = text.strip()
    if value and not _LABEL.fullmatch(value):
        raise ValueError(f"invalid name {text!r}: lower-case letters, digits and '-', at most 63")
    return value


def _instance(text: str) -> str:
    value = text.strip()
    if value and not _INSTANCE.fullmatch(value):
        raise ValueError(f"invalid instance name {text!r}: letters, digits, '.', '_' and '-', at most 253")
    return value


def _header_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    bad = [n for n in names if not _TOKEN.fullmatch(n)]
    if bad:
        raise ValueError(f"invalid header names: {', '.join(bad)}")
    return names


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return value

    return parse


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    name: str  # field name; the env var is PREFIX + NAME.upper()
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "outbound_listen_addr", "127.0.0.1:4140", parse_socket_addr, "where the app's outbound traffic enters"
    ),
    Setting("inbound_listen_addr", "0.0.0.0:4143", parse_socket_addr, "where traffic from the mesh enters"),
    Setting(
        "admin_listen_addr", "0.0.0.0:4191", parse_socket_addr, "/metrics, /ready, /live, /proxy-log-level"
    ),
    Setting(
        "inbound_forward",
        "",
        _optional_addr,
        "the local application's address; empty: 127.0.0.1 at the original destination port",
    ),
    Setting(
        "static_destinations",
        "",
        parse_static_destinations,
        "name:port=ip:port,ip:port;name2:port=... resolved before DNS",
    ),
    Setting(
        "opaque_ports",
        "25,587,3306,4444,5432,6379,9300,11211",
        parse_ports,
        "ports relayed as TCP without protocol detection (server-speaks-first protocols)",
    ),
    Setting("log_level", "info", _choice(*LOG_LEVELS), "trace, debug, info, warning or error"),
    Setting("log_format", "plain", _choice("plain", "json"), "plain or json (one object per line)"),
    Setting("detect_timeout", "10s", parse_duration, "give up protocol detection and relay as TCP"),
    Setting("outbound_connect_timeout", "1s", parse_duration, "upstream connect timeout, outbound (-> 504)"),
    Setting("inbound_connect_timeout", "1s", parse_duration, "connect timeout to the local app (-> 504)"),
    Setting(
        "header_read_timeout", "10s", parse_duration, "a request head must arrive within this (slowloris)"
    ),
    Setting("idle_timeout", "60s", parse_duration, "close client keep-alive connections idle this long"),
    Setting("pool_idle_timeout", "3s", parse_duration, "close pooled upstream connections idle this long"),
    Setting("dns_ttl", "5s", parse_duration, "how often DNS answers for a destination are refreshed"),
    Setting(
        "controller_addr",
        "",
        _optional_addr,
        "the controller's destination API (host:port); empty: static map and DNS only",
    ),
    Setting("namespace", "default", _namespace, "the workload's namespace: `web:80` means `web.<namespace>`"),
    Setting(
        "outbound_failfast_timeout",
        "3s",
        parse_duration,
        "how long requests wait for a destination's endpoints before failing fast with 503",
    ),
    Setting("shutdown_grace_period", "120s", parse_duration, "how long in-flight work may finish on SIGTERM"),
    Setting("admin_shutdown", "false", _bool, "allow POST /shutdown on the admin listener"),
    Setting(
        "identity_local_name",
        "",
        _optional_identity,
        "this workload's identity (<sa>.<ns>.serviceaccount.identity.<controller-ns>.<trust-domain>); "
        "empty: no identity, no mTLS",
    ),
    Setting("identity_token_file", "", _optional_path, "file holding the token that proves the identity"),
    Setting("identity_trust_anchors", "", _optional_path, "PEM file of the trust anchors (the trust bundle)"),
    Setting(
        "identity_addr",
        "",
        _optional_addr,
        "the identity service (host:port); empty: the controller address",
    ),
    Setting(
        "tap_listen_addr",
        "0.0.0.0:4190",
        _optional_addr,
        "the tap server (gRPC Tap.Observe); empty: tap off",
    ),
    Setting(
        "tap_redact_headers",
        "",
        _header_names,
        "more headers tap shows as [redacted] (authorization, cookie, set-cookie and "
        "proxy-authorization always are), comma-separated",
    ),
    Setting(
        "service",
        "",
        _optional_label,
        "the service this proxy fronts (e.g. web), announced to the controller",
    ),
    Setting("pod", "", _instance, "this instance's name (e.g. web-0); empty: the host name"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyConfig:
    outbound_listen_addr: SocketAddr
    inbound_listen_addr: SocketAddr
    admin_listen_addr: SocketAddr
    inbound_forward: SocketAddr | None
    static_destinations: dict[str, list[SocketAddr]]
    opaque_ports: frozenset[int]
    log_level: str
    log_format: str
    detect_timeout: float
    outbound_connect_timeout: float
    inbound_connect_timeout: float
    header_read_timeout: float
    idle_timeout: float
    pool_idle_timeout: float
    dns_ttl: float
    controller_addr: SocketAddr | None
    namespace: str
    outbound_failfast_timeout: float
    shutdown_grace_period: float
    admin_shutdown: bool
    tap_listen_addr: SocketAddr | None
    tap_redact_headers: tuple[str, ...]
    service: str
    pod: str
    identity_local_name: str | None = None
    identity_token_file: str | None = None
    identity_trust_anchors: str | None = None
    identity_addr: SocketAddr | None = None

    @property
    def identity_service_addr(self) -> SocketAddr | None:
        return self.identity_addr or self.controller_addr


def load(env: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> ProxyConfig:
    """Build the config from ``env`` (and flag ``overrides`` by field name)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        raw = (overrides or {}).get(setting.name)
        if raw is None:
            raw = env.get(setting.env, setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{setting.env}={raw!r}: {exc}")
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in {s.env for s in SETTINGS})
    problems.extend(f"{name}: unknown setting (see docs/proxy.md)" for name in unknown)
    if not problems:
        problems.extend(_identity_problems(values))
    if problems:
        raise ConfigError("invalid proxy configuration:\n  " + "\n  ".join(problems))
    return ProxyConfig(**values)


def _identity_problems(values: Mapping[str, Any]) -> list[str]:
    """With an identity, the proxy also needs its token, the trust bundle and the service."""
    if values["identity_local_name"] is None:
        return []
    problems = [
        f"{PREFIX}{name.upper()} is required when {PREFIX}IDENTITY_LOCAL_NAME is set"
        for name in ("identity_token_file", "identity_trust_anchors")
        if values[name] is None
    ]
    if values["identity_addr"] is None and values["controller_addr"] is None:
        problems.append(
            f"{PREFIX}IDENTITY_ADDR or {PREFIX}CONTROLLER_ADDR is required when "
            f"{PREFIX}IDENTITY_LOCAL_NAME is set"
        )
    return problems
