"""HPACK for the hot path: the ``hpack`` library plus a cache of repeated header blocks.

Services send the same headers again and again, and once they are in the dynamic
table a block is a handful of index bytes whose meaning depends only on the
table. So a block that left the table unchanged can be remembered: as long as the
table does not change, the same bytes decode to the same headers (and the same
headers encode to the same bytes). Any block that inserts or evicts entries
clears the cache. The cache is bounded, and a decoded block is remembered only
after the caller validated it (:meth:`Decoder.remember`).

``hpack`` is imported by the first encoder or decoder, so a proxy that never sees
HTTP/2 does not hold its tables (about 0.7 MB). Its errors come out as
:class:`HeaderBlockError` and :class:`HeaderListTooLarge`.
"""

from __future__ import annotations

from typing import Final, cast

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
    __slots__ = ("_cache", "_decoder", "_last", "_unchanged")

    def __init__(self, max_header_list_size: int) -> None:
        from hpack import Decoder as _Decoder

        self._decoder = _Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, tuple[int, Headers]] = {}
        self._unchanged = False
        self._last = b""

    def decode(self, block: bytes, role: int) -> tuple[Headers, bool]:
        """The headers of ``block``, and whether they were validated before in ``role``."""
        hit = self._cache.get(block)
        if hit is not None and hit[0] == role:
            return list(hit[1]), True
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
    __slots__ = ("_cache", "_encoder")

    def __init__(self) -> None:
        from hpack import Encoder as _Encoder

        self._encoder = _Encoder()
        self._cache: dict[tuple[tuple[bytes, bytes], ...], bytes] = {}

    def set_table_size(self, size: int) -> None:
        if size != self._encoder.header_table_size:  # hpack forgets a pending size update on a repeat
            self._encoder.header_table_size = size
            self._cache.clear()

    def encode(self, headers: Headers) -> bytes:
        key = tuple(headers)
        block = self._cache.get(key)
        if block is not None:
            return block
        table = self._encoder.header_table
        before = _table_mark(table)
        block = self._encoder.encode(headers, huffman=True)
        if not _same(_table_mark(table), before):
            self._cache.clear()
        elif len(self._cache) < MAX_CACHED:
            self._cache[key] = block
        return block
