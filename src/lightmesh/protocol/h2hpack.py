"""HPACK for the hot path: :mod:`~lightmesh.protocol.h2literal` for what lightmesh sends,
the ``hpack`` library for the rest of what it receives, and a cache of repeated blocks.

The encoder never uses the dynamic table (h2literal): a block depends only on its
fields, so it is cached by them, bounded, and never invalidated; a change of the
peer's table size is signalled at the start of the next block. The decoder takes a
block of static indexes and plain literals (what another lightmesh sends) through
h2literal and anything else through ``hpack``, which keeps the dynamic table. Once
the table holds entries, a block of index bytes means the same only as long as the
table does not change, so a decoded block that left the table unchanged is
remembered (after the caller validated it, :meth:`Decoder.remember`); any block that
inserts or evicts entries clears that cache.

``hpack`` is imported by the first decoder, so a proxy that never receives HTTP/2
does not hold its tables (about 0.7 MB). Its errors come out as
:class:`HeaderBlockError` and :class:`HeaderListTooLarge`.
"""

from __future__ import annotations

from typing import Final, cast

from lightmesh.protocol import h2literal

Headers = list[tuple[bytes, bytes]]
MAX_CACHED: Final = 256


class HeaderBlockError(Exception):
    """A header block that does not decode (a COMPRESSION_ERROR)."""


class HeaderListTooLarge(HeaderBlockError):
    """A header block that decodes to more than the advertised maximum list size."""


def _translate(exc: Exception) -> HeaderBlockError | None:
    from hpack import HPACKError, OversizedHeaderListError

    if isinstance(exc, OversizedHeaderListError):
        return HeaderListTooLarge(str(exc))
    if isinstance(exc, HPACKError):
        return HeaderBlockError(str(exc))
    return None


def _table_mark(table: object) -> tuple[int, object, int]:
    entries = table.dynamic_entries  # type: ignore[attr-defined]
    return len(entries), entries[0] if entries else None, table.maxsize  # type: ignore[attr-defined]


def _same(a: tuple[int, object, int], b: tuple[int, object, int]) -> bool:
    """Same table: entries are only ever added at the front, so length and front identity tell;
    a size update changes the maximum without touching an entry."""
    return a[0] == b[0] and a[1] is b[1] and a[2] == b[2]


class Decoder:
    __slots__ = ("_cache", "_decoder", "_last", "_max", "_unchanged")

    def __init__(self, max_header_list_size: int) -> None:
        from hpack import Decoder as _Decoder

        self._decoder = _Decoder(max_header_list_size=max_header_list_size)
        self._max = max_header_list_size
        self._cache: dict[bytes, tuple[int, Headers]] = {}
        self._unchanged = False
        self._last = b""

    def decode(self, block: bytes, role: int) -> tuple[Headers, bool]:
        """The headers of ``block``, and whether they were validated before in ``role``."""
        hit = self._cache.get(block)
        if hit is not None and hit[0] == role:
            return list(hit[1]), True
        plain = h2literal.decode_plain(block, self._max)
        if plain is not None:  # no table entry used or changed
            self._unchanged = True
            self._last = block
            return plain, False
        table = self._decoder.header_table
        before = _table_mark(table)
        try:
            headers = cast(Headers, self._decoder.decode(block, raw=True))
        except Exception as exc:
            error = _translate(exc)
            if error is None:
                raise
            raise error from exc
        # a block that starts with a size update (001xxxxx) must run again to apply it
        size_update = bool(block) and block[0] & 0xE0 == 0x20
        self._unchanged = _same(_table_mark(table), before) and not size_update
        if not self._unchanged and self._cache:
            self._cache.clear()
        self._last = block
        return headers, False

    def remember(self, block: bytes, role: int, headers: Headers) -> None:
        """Cache the last decoded block (valid in ``role``) if it left the table unchanged."""
        if self._unchanged and block is self._last and len(self._cache) < MAX_CACHED:
            self._cache[block] = (role, list(headers))


class Encoder:
    """Blocks of static indexes and plain literals (h2literal), cached by their fields."""

    __slots__ = ("_cache", "_low", "_pending", "_table_size")

    def __init__(self) -> None:
        self._cache: dict[tuple[tuple[bytes, bytes], ...], bytes] = {}
        self._table_size = 4096  # the peer's SETTINGS_HEADER_TABLE_SIZE: unused, but signalled
        self._pending = b""  # size updates owed at the start of the next block
        self._low = 4096  # the smallest size set since the last block

    def set_table_size(self, size: int) -> None:
        """RFC 7541 §4.2: the next block starts with the new size, after the smallest one
        set since the last block if that was smaller (a decoder must have evicted for it)."""
        if size == self._table_size:
            return
        self._low = min(self._low, size) if self._pending else size
        self._table_size = size
        self._pending = h2literal.size_update(self._low)
        if size != self._low:
            self._pending += h2literal.size_update(size)

    def encode(self, headers: Headers) -> bytes:
        key = tuple(headers)
        block = self._cache.get(key)
        if block is None:
            out = bytearray()
            h2literal.encode_fields(headers, out)
            block = bytes(out)
            if len(self._cache) >= MAX_CACHED:  # varying fields (ids, lengths): start over
                self._cache.clear()
            self._cache[key] = block
        if self._pending:
            block, self._pending = self._pending + block, b""
        return block
