"""Successive versions of one registry, re-read only where their text changed (sans-I/O).

A registry is usually a ``services:`` line followed by one block of lines per service, each
starting with ``- `` at the same indentation. :func:`split_services` cuts such a text into
those blocks, and :class:`RegistryParser` keeps the :class:`Service` each block defined: a
reload reads and checks (with the fast path, :mod:`lightmesh.controller.registryfast`)
only the blocks that are new, so its cost follows what changed, not the registry's size.
Unchanged services are the very same objects as before, so the directory's comparison of
old and new is an identity check.

A block in the documented layout is read line by line without YAML
(:mod:`lightmesh.controller.registrylines`); any other is loaded as YAML after a
``services:`` line of its own. A block means the same on its own as in the whole file: the
cut is made only at lines whose indentation is the items' and that start an item, and only
when every line before the first item is blank or a comment and no line outside the items
has content. A cut inside a quoted scalar or a flow collection leaves the block before it
unterminated, and an alias to an anchor of another block is undefined: both fail to load.
A text with characters YAML takes for line breaks where ``\\n``-splitting would not
(CR, NEL, LS, PS), or a byte order mark, is not cut at all. When the text has another
shape, or any block has a doubt, or two blocks name the same service, the whole text goes
to :func:`~lightmesh.controller.registry.parse_registry` (fast path, then the slow one
with its line-numbered errors).
"""

from __future__ import annotations

import functools
import re

from lightmesh.controller.endpoints import Service
from lightmesh.controller.profiles import ProfileBody
from lightmesh.controller.registry import fast_profiles, parse_profiles, parse_registry
from lightmesh.controller.registryfast import Doubt, load, service_list, to_service
from lightmesh.controller.registrylines import read_block
from lightmesh.core.names import DEFAULT_CLUSTER_DOMAIN

_HEAD = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*services:[ ]*(?:[ ]#[^\n]*)?\n")
_ODD_CHARACTERS = "\r\x85\u2028\u2029\ufeff"  # other line breaks, a byte order mark
_CONTENT = re.compile(r"\n[ ]*[^ #\n]")  # the first line that is not blank or a comment
_ITEM = re.compile(r"\n([ ]*)-(?=[ \n]|\Z)")
_PROFILES_HEAD = re.compile(r"\nprofiles:[ ]*(?:[ ]#[^\n]*)?\n")
_TOP_KEY = re.compile(r"\n[^ #\n-]")  # a line at column 0 that is not an item, blank or a comment


@functools.lru_cache(maxsize=8)
def _lines_at(indent: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(item starts, lines outside items that are neither blank nor a comment) at ``indent``.

    Each pattern starts with the line's ``\\n``, which lets ``re`` skip to candidates fast.
    """
    items = re.compile(rf"\n[ ]{{{indent}}}-(?=[ \n]|\Z)")
    less = rf"|[ ]{{0,{indent - 1}}}[^ #\n]" if indent else ""
    return items, re.compile(rf"\n(?:[ ]{{{indent}}}(?:[^ #\n-]|-[^ \n]){less})")


def split_services(text: str) -> list[str] | None:
    """The text of each item of ``services``, in order; ``None`` when the text has another shape."""
    head = _HEAD.match(text)
    if head is None or any(c in text for c in _ODD_CHARACTERS):  # instant for a non-ASCII c in ASCII text
        return None
    first = _CONTENT.search(text, head.end() - 1)  # from the head's final newline
    item = _ITEM.match(text, first.start()) if first else None
    if first is None or item is None:
        return None
    items, strays = _lines_at(len(item[1]))
    if strays.search(text, first.start()):
        return None
    starts = [m.start() + 1 for m in items.finditer(text, first.start())]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def split_profiles(text: str) -> tuple[str, str | None]:
    """(the services part, the ``profiles:`` section) when the section ends the text, else (text, None).

    Each part is then read on its own; a cut that is not a real section boundary (inside a
    multi-line scalar) leaves a part that fails to load, and the whole text is parsed.
    """
    head = _PROFILES_HEAD.search(text)
    if head is None or _TOP_KEY.search(text, head.end() - 1):
        return text, None
    return text[: head.start() + 1], text[head.start() + 1 :]


def service_block(block: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> Service:
    """The service one block defines, read on its own; ``ValueError`` at the first doubt.

    A block in the documented layout is read without YAML (:func:`read_block`), any other
    is loaded as YAML after a ``services:`` line of its own.
    """
    try:
        raw = read_block(block)
    except Doubt:
        (raw,) = service_list(load("services:\n" + block))
    return to_service(raw, cluster_domain)


class RegistryParser:
    """Parses successive versions of one registry, reusing the services whose text is unchanged.

    :meth:`parse` is :func:`~lightmesh.controller.registry.parse_registry` with a cache: the
    service each block of the last good text defined, by the block's text. It is not
    thread-safe: one parse at a time (the file source parses in a worker thread, in turn).
    """

    def __init__(self, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> None:
        self.cluster_domain = cluster_domain
        self._known: dict[str, tuple[str, Service]] = {}  # block -> (service key, service)
        self.reread = 0  # services read by the last parse (the others were reused)
        self.profiles: dict[str, ProfileBody] = {}  # the last parse's profiles, by service host
        self._profiles_text: str | None = None  # the profiles section they were read from

    def parse(self, text: str, source: str = "<registry>") -> dict[str, Service]:
        """The registry's services (profiles in :attr:`profiles`); ``RegistryError`` lists every problem."""
        services_text, profiles_text = split_profiles(text)
        services = self._by_blocks(services_text)
        profiles = self._profiles(profiles_text) if services is not None else None
        if services is None or profiles is None:
            services = parse_registry(text, source, self.cluster_domain)
            profiles = parse_profiles(text, source, self.cluster_domain)
            self._known, self.reread, self._profiles_text = {}, len(services), None
        self.profiles = profiles
        return services

    def _profiles(self, section: str | None) -> dict[str, ProfileBody] | None:
        if section is None:
            return {}
        if section != self._profiles_text:
            profiles = fast_profiles(section, self.cluster_domain)
            if profiles is None:
                return None
            self.profiles, self._profiles_text = profiles, section
        return self.profiles

    def _by_blocks(self, text: str) -> dict[str, Service] | None:
        blocks = split_services(text)
        if blocks is None:
            return None
        known: dict[str, tuple[str, Service]] = {}
        services: dict[str, Service] = {}
        reread = 0
        for block in blocks:
            entry = self._known.get(block)
            if entry is None:
                try:
                    service = service_block(block, self.cluster_domain)
                except ValueError:
                    return None
                entry, reread = (str(service.name), service), reread + 1
            key, service = known[block] = entry
            if key in services:
                return None
            services[key] = service
        self._known, self.reread = known, reread
        return services
