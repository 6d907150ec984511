"""Hypothesis strategies for registry files: random valid registries, rendered many ways, and broken ones.

A registry is first drawn as plain data (what the YAML means), then rendered as text by
PyYAML's dumper with random options (block or flow style, quoting, line width, indentation)
or by a hand renderer in the documented block layout (items indented under ``services:``,
random comments and blank lines, keys in random order). :func:`invalid_registries` applies
one mutation that the registry must refuse: each of the rules in ``registry.py``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import yaml
from hypothesis import strategies as st

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_label_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,5}", fullmatch=True).filter(lambda s: s[:2] != "__")
_dns = st.lists(st.from_regex(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,4}[A-Za-z0-9_])?", fullmatch=True), min_size=1)
_text = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=12)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """An endpoint address as a user may write it: canonical or not, IPv4 or IPv6."""
    ip = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
    port = draw(st.integers(1, 65535))
    port_text = draw(st.sampled_from([str(port), f"0{port}"]))
    if isinstance(ip, ipaddress.IPv6Address):
        host = draw(st.sampled_from([str(ip), ip.exploded, str(ip).upper()]))
        return f"[{host}]:{port_text}"
    return draw(st.sampled_from([f"{ip}:{port_text}", f" {ip}:{port} "]))


@st.composite
def endpoints(draw: st.DrawFn) -> dict[str, Any]:
    ep: dict[str, Any] = {"address": draw(addresses())}
    if draw(st.booleans()):
        ep["labels"] = draw(st.dictionaries(_label_name, _text, max_size=3))
    if draw(st.booleans()):
        ep["identity"] = draw(st.one_of(st.none(), _dns.map(".".join)))
    if draw(st.booleans()):
        ep["protocol"] = draw(st.sampled_from([None, "h2", "opaque"]))
    if draw(st.booleans()):
        ep["weight"] = draw(st.integers(1, 2**32 - 1))
    return ep


def _unique_addresses(eps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, int]] = set()
    kept = []
    for ep in eps:
        host, _, port = ep["address"].strip().rpartition(":")
        key = (str(ipaddress.ip_address(host.strip("[]"))), int(port))
        if key not in seen:
            seen.add(key)
            kept.append(ep)
    return kept


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": draw(_label),
        "namespace": draw(_label),
        "port": draw(st.integers(1, 65535)),
    }
    if draw(st.booleans()):
        ip = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
        svc["clusterIP"] = draw(st.sampled_from([str(ip), ip.exploded, f" {ip} "]))
    if draw(st.booleans()):
        svc["endpoints"] = _unique_addresses(draw(st.lists(endpoints(), max_size=4)))
    return svc


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    """A valid registry as plain data."""
    found = draw(st.lists(services(), max_size=4, unique_by=lambda s: (s["name"], s["namespace"], s["port"])))
    return {"services": found}


def _scalar(value: Any, plain: bool) -> str:
    """A plain scalar when it reads back as the same string, else JSON (double quotes, numbers)."""
    simple = isinstance(value, str) and value.replace(".", "").replace("-", "").replace(":", "").isalnum()
    return value if plain and simple and yaml.safe_load(value) == value else _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers, null, lists... are YAML too


@st.composite
def _block(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """The documented layout (``  - name: web`` items, ``- address: ...`` endpoint lines), plain
    scalars where they read back the same, comments and blank lines here and there."""
    if not data["services"]:
        return "services: []\n"
    indent = draw(st.sampled_from([0, 2, 4]))
    extra = st.sampled_from(["", "", "", "\n", "# a comment\n", " " * (indent + 2) + "# indented\n"])
    lines = [draw(extra), "services:  # the mesh\n" if draw(st.booleans()) else "services:\n", draw(extra)]
    pad = " " * indent
    for svc in data["services"]:
        for i, key in enumerate(draw(st.permutations(list(svc)))):
            lead = pad + ("- " if i == 0 else "  ")
            value = svc[key]
            if key != "endpoints":
                lines.append(f"{lead}{key}: {_scalar(value, draw(st.booleans()))}\n")
            elif not value or not isinstance(value, list) or draw(st.integers(0, 3)) == 0:
                lines.append(f"{lead}{key}: {_json(value)}\n")
            else:
                lines.append(f"{lead}{key}:\n")
                nested = pad + draw(st.sampled_from(["  ", "    "]))
                lines.extend(draw(_endpoint_lines(ep, nested)) + draw(extra) for ep in value)
        lines.append(draw(extra))
    return "".join(lines)


@st.composite
def _endpoint_lines(draw: st.DrawFn, ep: Any, pad: str) -> str:
    if not isinstance(ep, dict) or not ep:
        return f"{pad}- {_json(ep)}\n"
    if draw(st.integers(0, 3)) == 0:
        return f"{pad}- {{{', '.join(f'{k}: {_json(v)}' for k, v in ep.items())}}}\n"
    keys = draw(st.permutations(list(ep)))
    plain = draw(st.booleans()) or draw(st.booleans())
    return "".join(
        f"{pad}{'- ' if i == 0 else '  '}{k}: {_scalar(ep[k], plain)}\n" for i, k in enumerate(keys)
    )


@st.composite
def rendered(draw: st.DrawFn, data: dict[str, Any]) -> str:
    """``data`` as YAML text, one of many ways."""
    if set(data) == {"services"} and isinstance(data["services"], list) and draw(st.booleans()):
        return draw(_block(data))
    return yaml.safe_dump(
        data,
        default_flow_style=draw(st.sampled_from([False, True, None])),
        default_style=draw(st.sampled_from([None, '"', "'"])),
        width=draw(st.sampled_from([12, 80])),
        indent=draw(st.sampled_from([2, 4])),
        sort_keys=draw(st.booleans()),
        allow_unicode=draw(st.booleans()),
        explicit_start=draw(st.booleans()),
    )


BAD_SERVICE = [
    ("name", "Web"),
    ("name", "a_b"),
    ("name", 123),
    ("namespace", ""),
    ("port", 0),
    ("port", 65536),
    ("port", "80"),
    ("port", True),
    ("port", 1.5),
    ("prot", 3),
    ("endpoints", None),
    ("endpoints", {}),
    ("endpoints", ["10.0.0.1:80"]),
]
BAD_ENDPOINT = [
    ("address", "web:80"),
    ("address", "10.0.0.1"),
    ("address", "10.0.0.1:0"),
    ("address", "10.0.0.1:http"),
    ("address", "010.0.0.1:80"),
    ("address", None),
    ("labels", None),
    ("labels", {"a-b": "x"}),
    ("labels", {"__x": "x"}),
    ("labels", {"a": 1}),
    ("identity", "a..b"),
    ("identity", 5),
    ("protocol", "h3"),
    ("weight", 0),
    ("weight", 2**32),
    ("weight", True),
    ("weight", "5"),
    ("weight", None),
    ("adress", "10.0.0.1:80"),
]


@st.composite
def invalid_registries(draw: st.DrawFn) -> dict[str, Any]:
    """A registry with one thing the slow path must refuse."""
    data = draw(registries())
    svcs = data["services"]
    choice = draw(st.sampled_from(["service", "endpoint", "missing", "twice", "top"]))
    if choice == "top" or not svcs:
        return draw(st.sampled_from([{**data, "extra": 1}, {"services": None}, {"services": {}}, {}]))
    svc = draw(st.sampled_from(svcs))
    if choice == "service":
        key, value = draw(st.sampled_from(BAD_SERVICE))
        svc[key] = value
    elif choice == "endpoint":
        ep = draw(endpoints())
        key, value = draw(st.sampled_from(BAD_ENDPOINT))
        ep[key] = value
        svc["endpoints"] = [*svc.get("endpoints", []), ep]
    elif choice == "missing":
        del svc[draw(st.sampled_from(["name", "namespace", "port"]))]
    elif svc.get("endpoints"):
        svc["endpoints"].append({"address": svc["endpoints"][0]["address"].strip()})
    else:
        svcs.append(dict(svc))
    return data
