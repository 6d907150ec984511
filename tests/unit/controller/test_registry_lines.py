"""Reading a service block without YAML: only what it is sure of, exactly as YAML reads it."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.controller.registryfast import Doubt
from lightmesh.controller.registrylines import read_block

CANONICAL = """\
  - name: web
    namespace: default
    # a comment

    port: 80
    endpoints:
      - address: 10.0.0.5:8080
      - address: 10.0.0.6:8080
"""


def yaml_item(block: str) -> object:
    data = yaml.load("services:\n" + block, Loader=yaml.CSafeLoader)
    (item,) = data["services"]
    return item


def test_the_documented_layout_is_read_as_yaml_reads_it() -> None:
    raw = read_block(CANONICAL)
    assert raw == {
        "name": "web",
        "namespace": "default",
        "port": 80,
        "endpoints": [{"address": "10.0.0.5:8080"}, {"address": "10.0.0.6:8080"}],
    }
    assert repr(raw) == repr(yaml_item(CANONICAL))
    indentless = "- port: 80\n  endpoints:\n  - address: 10.0.0.5:8080\n  name: web\n"
    with pytest.raises(Doubt):  # a key after the endpoint list: left to YAML
        read_block(indentless)
    assert read_block("- name: db\n  namespace: data\n  port: 5432\n  endpoints: []\n")["endpoints"] == []


@pytest.mark.parametrize(
    "line",
    [
        "    port: 080",  # octal in YAML 1.1
        "    port: 1_000",
        "    port: 1:20",  # sexagesimal
        "    port: '80'",
        "    port: 80 # eighty",
        "    port: 80 ",
        "    port:  80",
        "    port:",
        "    name: yes",  # a boolean
        "    name: null",
        "    name: 1e3x:",
        "    name: web\t",
        "    labels: {a: b}",
        "   port: 80",
        "      port: 80",
        "    port: 80\n    port: 81",
        "    endpoints:",  # no entries: null
        "    endpoints:\n      - address: 10.0.0.1:80\n        weight: 5",
        "    endpoints:\n      - address: 10.0.0.1:80\n    - address: 10.0.0.2:80",
        "    endpoints:\n      - address: '10.0.0.1:80'",
        "    endpoints:\n      - {address: 10.0.0.1:80}",
    ],
)
def test_anything_else_is_left_to_yaml(line: str) -> None:
    with pytest.raises(Doubt):
        read_block(f"  - name: web\n    namespace: default\n{line}\n")


_TOKENS = ["yes", "No", "null", "~", "1", "080", "0x1F", "1_0", "1:20", "1.5", "1e3", "1.0e+3", "a:b"]
_TOKENS += ["2001-01-01", "10.0.0.1:80", "80", "65536", ".inf", "-1", "[]", "a:", "a #b", "'q'", "=", "<<"]
_SAFE = ["web", "80", "10.0.0.1:80", "a:b", "web-1.x_y"]


@st.composite
def near_layout(draw: st.DrawFn) -> str:
    """Blocks in the documented layout, a third of them with odd scalars, indentation or spacing."""
    odd = draw(st.integers(0, 2)) == 0

    def rare() -> bool:
        return odd and draw(st.integers(0, 4)) == 0

    item, nested = draw(st.integers(0, 4)), draw(st.sampled_from([2, 3, 4]))
    keys = draw(st.permutations(["name", "namespace", "port", "endpoints"]))
    if rare():
        keys.insert(draw(st.integers(0, 4)), draw(st.sampled_from(["labels", "port", "weight"])))

    def token() -> str:
        return draw(st.sampled_from(_TOKENS if rare() else _SAFE))

    def gap() -> str:
        return draw(st.sampled_from(["", "  "])) if rare() else " "

    lines = []
    for i, key in enumerate(keys[: draw(st.integers(1, 5))]):
        pad = " " * (item if i == 0 else item + 2 + (draw(st.sampled_from([1, -1])) if rare() else 0))
        dash = "- " if i == 0 or rare() else ""
        if key == "endpoints" and draw(st.booleans()):
            lines.append(f"{pad}{dash}{key}:")
            for _ in range(draw(st.integers(0 if rare() else 1, 3))):
                lines.append(f"{' ' * (item + nested + rare())}- address:{gap()}{token()}")
        else:
            lines.append(f"{pad}{dash}{key}:{gap()}{token()}")
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.sampled_from(["", "# c", "   ", "\t", "  - x"] if rare() else ["", "# c"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=500)
@given(near_layout())
def test_whenever_a_block_is_read_without_yaml_yaml_reads_the_same(block: str) -> None:
    try:
        raw = read_block(block)
    except Doubt:
        return
    assert repr(raw) == repr(yaml_item(block)), block
