"""A service block in the documented layout, read line by line without YAML (sans-I/O).

Loading YAML costs about 25 µs per endpoint line even with libyaml (PyYAML resolves and
constructs every scalar in Python). Most registries, and every block a tool renders, use
one layout::

      - name: web
        namespace: default
        port: 80
        endpoints:
          - address: 10.0.0.5:8080

:func:`read_block` reads exactly that: each line is a key and a plain scalar made of
letters, digits and ``. _ : -`` (never ending in ``:``), ``endpoints: []`` or
``endpoints:`` followed by ``- address: <scalar>`` lines at one indentation, and blank or
comment lines (no construct of this layout spans lines, so those mean nothing). Scalars are
typed by PyYAML's own resolver, as a YAML load would type them; only strings (and decimal
ints for ``port``) are taken. It returns the plain data a YAML load gives, which the fast
path then checks, and raises :class:`~lightmesh.controller.registryfast.Doubt` at any other
line: the block is then loaded as YAML.
"""

from __future__ import annotations

import re
from typing import Any

import yaml  # type: ignore[import-untyped]

from lightmesh.controller.registryfast import Doubt

_VALUE = r"[A-Za-z0-9](?:[A-Za-z0-9._:-]*[A-Za-z0-9._-])?"
_KEY_LINE = re.compile(rf"( *)(- )?(name|namespace|port|endpoints):(?: ({_VALUE}|\[\]))?")
_ADDRESS_LINE = re.compile(rf"( *)- address: ({_VALUE})")
_NOTHING = re.compile(r" *(?:#.*)?")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_RESOLVER = yaml.resolver.Resolver()
_STR, _INT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"


def _scalar(value: str) -> str:
    if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
        raise Doubt("a plain scalar that is not a string")
    return value


def _port(value: str) -> int:
    if not _DECIMAL.fullmatch(value) or _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _INT:
        raise Doubt("a port that is not a plain decimal")
    return int(value)


def read_block(block: str) -> dict[str, Any]:
    """The plain data of one ``services`` item in the documented layout; ``Doubt`` otherwise."""
    raw: dict[str, Any] = {}
    indent = len(block) - len(block.lstrip(" "))
    endpoints: list[dict[str, Any]] | None = None  # once ``endpoints:`` opened a block list
    nested = -1  # the indentation of the endpoint lines
    for line in block.split("\n"):
        if _NOTHING.fullmatch(line):
            continue
        if endpoints is not None:
            if (m := _ADDRESS_LINE.fullmatch(line)) is None or len(m[1]) < indent + 2:
                raise Doubt("not an address line")
            if nested not in (-1, len(m[1])):
                raise Doubt("address lines at different indentations")
            nested = len(m[1])
            endpoints.append({"address": _scalar(m[2])})
            continue
        m = _KEY_LINE.fullmatch(line)
        first = not raw
        if m is None or bool(m[2]) != first or len(m[1]) != (indent if first else indent + 2):
            raise Doubt("not a key line of the item")
        key, value = m[3], m[4]
        if key in raw:
            raise Doubt("a key twice")
        if key == "endpoints" and value is None:
            raw[key] = endpoints = []  # a block list follows
        elif key == "endpoints" and value == "[]":
            raw[key] = []
        elif value is None or value == "[]":
            raise Doubt("a key without a scalar")
        else:
            raw[key] = _port(value) if key == "port" else _scalar(value)
    if endpoints == []:
        raise Doubt("endpoints: with no entries is null")
    return raw
