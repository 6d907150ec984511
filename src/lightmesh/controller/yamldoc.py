"""A YAML document that remembers where each value came from, for error messages (sans-I/O).

:meth:`YamlDocument.parse` composes the YAML node tree once (PyYAML, libyaml when present),
builds the plain data from it, and keeps the tree so that :meth:`YamlDocument.describe` can
turn a location such as ``("services", 0, "port")`` (pydantic's ``loc``) into the line it
is on. Syntax errors and duplicated mapping keys (which YAML loaders otherwise resolve
silently, last one wins) are collected as ``file:line[:column]: ...`` messages instead of
being raised: :attr:`YamlDocument.errors` when there is no data to go on,
:attr:`YamlDocument.duplicate_keys` when the data was built (so further checks can run).
:class:`SafeLoader` is libyaml's safe loader reporting a value that does not fit its explicit
tag (``!!int x``, ``!!bool maybe``) as a YAML error at its line, where PyYAML raises a bare
``ValueError`` or ``KeyError``; a document nested too deeply is an error too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped]

Loc = tuple[int | str, ...]
Problem = tuple[Loc, str]

_TAG_MISFITS = (ValueError, LookupError, TypeError, AttributeError, ArithmeticError)  # PyYAML raises these


class SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml when present); a value that does not fit its tag is a YAML error."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except _TAG_MISFITS:
            why = f"{node.value!r} is not a valid {node.tag.rpartition(':')[2]}"
            raise yaml.constructor.ConstructorError(None, None, why, node.start_mark) from None


@dataclass
class YamlDocument:
    source: str
    data: Any = None
    root: Any = None  # yaml.Node, or None for an empty document
    errors: list[str] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, source: str) -> YamlDocument:
        doc = cls(source)
        loader = SafeLoader(text)
        try:
            doc.root = loader.get_single_node()
            if doc.root is not None:
                doc._check_duplicate_keys(doc.root)
                doc.data = loader.construct_document(doc.root)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
            doc.errors.append(f"{where}: invalid YAML: {exc.problem or exc.context}")
        except yaml.YAMLError as exc:
            doc.errors.append(f"{source}: invalid YAML: {exc}")
        except RecursionError:
            doc.errors.append(f"{source}: invalid YAML: nested too deeply")
        finally:
            loader.dispose()
        return doc

    def line_of(self, loc: Loc) -> int:
        """The line (1-based) of the value at ``loc``, or of its nearest existing parent."""
        node = self.root
        if node is None:
            return 1
        line = int(node.start_mark.line) + 1
        for part in loc:
            node = _child(node, part)
            if node is None:
                break
            line = int(node.start_mark.line) + 1
        return line

    def describe(self, problems: list[Problem], where: Callable[[Loc], str]) -> list[str]:
        """``file:line: where: what`` for each problem, in file order."""
        lines = [(self.line_of(loc), where(loc), what) for loc, what in problems]
        return [f"{self.source}:{line}: {at}: {what}" for line, at, what in sorted(lines, key=lambda x: x[0])]

    def _check_duplicate_keys(self, node: Any) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        line = key.start_mark.line + 1
                        self.duplicate_keys.append(f"{self.source}:{line}: key {key.value!r} appears twice")
                    seen.add(key.value)
                self._check_duplicate_keys(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check_duplicate_keys(item)


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
