"""h2literal: HPACK without the dynamic table, checked against the ``hpack`` library.

Whatever :func:`encode_fields` writes must decode with a plain ``hpack`` decoder to the
same fields, leaving its table empty; :func:`decode_plain` must agree with ``hpack`` on
every block it accepts and hand back (``None``) every block it cannot decode without
the table, including malformed ones, so that ``hpack`` raises the error.
"""

from __future__ import annotations

import hpack
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.protocol import h2literal

Headers = list[tuple[bytes, bytes]]


def encode(headers: Headers) -> bytes:
    out = bytearray()
    h2literal.encode_fields(headers, out)
    return bytes(out)


def reference(block: bytes) -> Headers:
    decoded = hpack.Decoder(max_header_list_size=1 << 20).decode(block, raw=True)
    return [(bytes(name), bytes(value)) for name, value in decoded]


def test_the_static_table_is_rfc_7541s() -> None:
    assert tuple(HeaderTable.STATIC_TABLE) == h2literal.STATIC


def test_a_whole_static_field_is_one_index_byte() -> None:
    assert encode([(b":method", b"GET"), (b":status", b"200"), (b"accept-encoding", b"gzip, deflate")]) == (
        b"\x82\x88\x90"
    )


def test_a_known_name_is_indexed_and_its_value_is_a_plain_literal() -> None:
    # content-length is static entry 28: 4-bit prefix 15, then 13; value "17" without Huffman
    assert encode([(b"content-length", b"17")]) == b"\x0f\x0d\x0217"


def test_credentials_go_out_never_indexed() -> None:
    block = encode([(b"authorization", b"Bearer x"), (b"cookie", b"a=b"), (b"x-a", b"1")])
    decoded = hpack.Decoder().decode(block, raw=True)
    assert [type(field).__name__ for field in decoded] == [
        "NeverIndexedHeaderTuple",
        "NeverIndexedHeaderTuple",
        "HeaderTuple",
    ]


def test_a_size_update_is_what_hpack_reads() -> None:
    decoder = hpack.Decoder()
    decoder.decode(h2literal.size_update(0) + encode([(b"x-a", b"1")]), raw=True)
    assert decoder.header_table_size == 0
    decoder.decode(h2literal.size_update(4096), raw=True)
    assert decoder.header_table_size == 4096


names = st.sampled_from([b":status", b":path", b"content-length", b"x-request-id", b"cookie", b"a" * 200]) | (
    st.binary(min_size=1, max_size=20)
)
values = st.sampled_from([b"", b"200", b"GET", b"gzip, deflate", b"v" * 300]) | st.binary(max_size=40)
header_lists = st.lists(st.tuples(names, values) | st.sampled_from(h2literal.STATIC), max_size=12)


@settings(max_examples=300, deadline=None)
@given(header_lists)
def test_every_encoded_block_decodes_the_same_with_hpack_and_here(headers: Headers) -> None:
    block = encode(headers)
    assert reference(block) == headers
    assert h2literal.decode_plain(block, 1 << 20) == headers


@settings(max_examples=300, deadline=None)
@given(header_lists, st.booleans())
def test_blocks_that_need_the_table_or_huffman_are_left_to_hpack(headers: Headers, huffman: bool) -> None:
    block = hpack.Encoder().encode(headers, huffman=huffman)
    ours = h2literal.decode_plain(block, 1 << 20)
    if ours is not None:  # only static indexes and plain literals were used
        assert ours == reference(block)


@settings(max_examples=300, deadline=None)
@given(header_lists.filter(bool), st.data())
def test_a_cut_short_block_is_never_decoded_here(headers: Headers, data: st.DataObject) -> None:
    block = encode(headers)
    cut = data.draw(st.integers(min_value=1, max_value=len(block)))
    ours = h2literal.decode_plain(block[:-cut], 1 << 20)
    if ours is not None:  # the cut fell between two fields
        assert ours == reference(block[:-cut])


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_here_only_as_hpack_decodes_them(block: bytes) -> None:
    ours = h2literal.decode_plain(block, 1 << 20)
    if ours is not None:
        assert ours == reference(block)


def test_a_list_over_the_size_limit_is_left_to_hpack() -> None:
    block = encode([(b"x-big", b"v" * 200)])
    assert h2literal.decode_plain(block, 200) is None
    assert h2literal.decode_plain(block, 1000) == [(b"x-big", b"v" * 200)]


def test_an_index_beyond_the_static_table_or_zero_is_left_to_hpack() -> None:
    assert h2literal.decode_plain(b"\xbe", 1 << 20) is None  # 62: dynamic
    assert h2literal.decode_plain(b"\x80", 1 << 20) is None  # 0: an error
    assert h2literal.decode_plain(b"\x0f\x30\x01a", 1 << 20) is None  # name index 63
