"""HPACK without the dynamic table: static-table indexes and plain literals (RFC 7541).

What lightmesh sends is encoded here, never touching the dynamic table: a field that
is in the static table whole is one index; any other is a literal without indexing
(never indexed for credentials), its name an index when the static table has it, and
no Huffman coding. Every block is then a pure function of its fields, so the encoder
may cache blocks forever, and encoding one costs a few byte appends per field instead
of the ``hpack`` library's pure-Python table and Huffman work (about 65 µs for a
response whose ``content-length`` or request id changes every time, measured against
about 2.4 µs here compiled, and 29 µs against 1.2 µs to decode).

:func:`decode_plain` is the matching fast path for receiving: a block made only of
static indexes and non-Huffman literals without indexing (what lightmesh sends) is
decoded here; anything else (Huffman strings, the dynamic table, size updates,
malformed input, a list over the size limit) returns ``None`` and is left to
``hpack``, which keeps the table and raises the errors. Such a block changes no state,
so the two never disagree about the table.
"""

from __future__ import annotations

from typing import Final

Headers = list[tuple[bytes, bytes]]

# RFC 7541 Appendix A; index i is STATIC[i - 1].
STATIC: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"), (b":status", b"200"),
    (b":status", b"204"), (b":status", b"206"), (b":status", b"304"), (b":status", b"400"),
    (b":status", b"404"), (b":status", b"500"), (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"), (b"accept-language", b""), (b"accept-ranges", b""),
    (b"accept", b""), (b"access-control-allow-origin", b""), (b"age", b""), (b"allow", b""),
    (b"authorization", b""), (b"cache-control", b""), (b"content-disposition", b""),
    (b"content-encoding", b""), (b"content-language", b""), (b"content-length", b""),
    (b"content-location", b""), (b"content-range", b""), (b"content-type", b""), (b"cookie", b""),
    (b"date", b""), (b"etag", b""), (b"expect", b""), (b"expires", b""), (b"from", b""), (b"host", b""),
    (b"if-match", b""), (b"if-modified-since", b""), (b"if-none-match", b""), (b"if-range", b""),
    (b"if-unmodified-since", b""), (b"last-modified", b""), (b"link", b""), (b"location", b""),
    (b"max-forwards", b""), (b"proxy-authenticate", b""), (b"proxy-authorization", b""),
    (b"range", b""), (b"referer", b""), (b"refresh", b""), (b"retry-after", b""), (b"server", b""),
    (b"set-cookie", b""), (b"strict-transport-security", b""), (b"transfer-encoding", b""),
    (b"user-agent", b""), (b"vary", b""), (b"via", b""), (b"www-authenticate", b""),
)  # fmt: skip
STATIC_LEN: Final = len(STATIC)

# name -> its first index; name -> {value: index} for the entries that carry a value
_NAME_INDEX: Final[dict[bytes, int]] = {}
_VALUE_INDEX: Final[dict[bytes, dict[bytes, int]]] = {}
for _i, (_name, _value) in enumerate(STATIC, 1):
    _NAME_INDEX.setdefault(_name, _i)
    if _value:
        _VALUE_INDEX.setdefault(_name, {})[_value] = _i
# Credentials go out "never indexed", so no intermediary re-encoding them may index them.
_NEVER_INDEXED: Final = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})
ENTRY_OVERHEAD: Final = 32  # RFC 7541 §4.1: what a field adds to a header list's size


def _integer(out: bytearray, n: int, bits: int, flags: int) -> None:
    """Append ``n`` as an HPACK integer with a ``bits``-bit prefix (RFC 7541 §5.1)."""
    limit = (1 << bits) - 1
    if n < limit:
        out.append(flags | n)
        return
    out.append(flags | limit)
    n -= limit
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _string(out: bytearray, data: bytes) -> None:
    _integer(out, len(data), 7, 0)  # H = 0: no Huffman coding
    out += data


def encode_fields(headers: Headers, out: bytearray) -> None:
    """Append the representation of every field to ``out``."""
    for field in headers:
        name = field[0]
        values = _VALUE_INDEX.get(name)
        if values is not None:
            index = values.get(field[1])
            if index is not None:
                out.append(0x80 | index)  # all static indexes are below 127: one byte
                continue
        flags = 0x10 if name in _NEVER_INDEXED else 0x00
        name_index = _NAME_INDEX.get(name)
        if name_index is not None:
            _integer(out, name_index, 4, flags)
        else:
            out.append(flags)
            _string(out, name)
        _string(out, field[1])


def size_update(size: int) -> bytes:
    """A dynamic table size update (RFC 7541 §6.3), for the start of a block."""
    out = bytearray()
    _integer(out, size, 5, 0x20)
    return bytes(out)


def _read_integer(block: bytes, i: int, bits: int) -> tuple[int, int]:
    """The integer at ``block[i]`` with a ``bits``-bit prefix, and the index after it; -1 if cut short."""
    limit = (1 << bits) - 1
    n = block[i] & limit
    i += 1
    if n < limit:
        return n, i
    shift = 0
    end = len(block)
    while True:
        if i >= end or shift > 28:  # cut short, or too large for any real header
            return -1, i
        byte = block[i]
        i += 1
        n += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i


def _read_string(block: bytes, i: int) -> tuple[bytes | None, int]:
    """The plain (non-Huffman) string at ``block[i]``; ``None`` for Huffman or a cut-short one."""
    if i >= len(block) or block[i] & 0x80:
        return None, i
    length, i = _read_integer(block, i, 7)
    if length < 0 or i + length > len(block):
        return None, i
    return block[i : i + length], i + length


def decode_plain(block: bytes, max_list_size: int) -> Headers | None:
    """The fields of a block of static indexes and plain literals; ``None`` for anything else."""
    headers: Headers = []
    size = 0
    i = 0
    end = len(block)
    while i < end:
        first = block[i]
        if first & 0x80:  # indexed field
            index, i = _read_integer(block, i, 7)
            if index < 1 or index > STATIC_LEN:  # 0 is an error, above the static table is dynamic
                return None
            field = STATIC[index - 1]
        elif first < 0x20:  # literal without indexing (0000) or never indexed (0001)
            index, i = _read_integer(block, i, 4)
            if index < 0 or index > STATIC_LEN:
                return None
            if index:
                name = STATIC[index - 1][0]
            else:
                literal, i = _read_string(block, i)
                if literal is None:
                    return None
                name = literal
            value, i = _read_string(block, i)
            if value is None:
                return None
            field = (name, value)
        else:  # incremental indexing or a size update: the table changes
            return None
        size += len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
        if size > max_list_size:
            return None
        headers.append(field)
    return headers
