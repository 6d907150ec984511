"""h2hpack: the cached HPACK encoder and decoder against plain ``hpack``.

The cache is only sound while the dynamic table is unchanged: the same index bytes
mean different fields after an insertion or an eviction. These tests build such
sequences by hand (a small table forces evictions) and check that a cached block is
never reused with a stale meaning, that the encoder's output always decodes with a
plain :class:`hpack.Decoder`, and that a block validated in one role is not taken as
validated in another.
"""

from __future__ import annotations

import subprocess
import sys

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightmesh.protocol.h2frames import REQUEST, RESPONSE, TRAILERS
from lightmesh.protocol.h2hpack import MAX_CACHED, Decoder, Encoder, HeaderBlockError, HeaderListTooLarge

Headers = list[tuple[bytes, bytes]]

INDEX_62 = b"\xbe"  # "indexed field 62": the newest dynamic-table entry, whatever it is now
INDEX_63 = b"\xbf"
SIZE_0 = b"\x20"  # dynamic table size update to 0: empties the table
GET: Headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"svc")]


def plain(headers: object) -> Headers:
    return [(bytes(name), bytes(value)) for name, value in headers]  # type: ignore[attr-defined]


def decode_and_remember(decoder: Decoder, block: bytes, role: int = TRAILERS) -> tuple[Headers, bool]:
    headers, known = decoder.decode(block, role)
    decoder.remember(block, role, headers)
    return plain(headers), known


# Decoder cache


def test_a_repeated_index_only_block_hits_the_cache_and_decodes_the_same() -> None:
    encoder, decoder = hpack.Encoder(), Decoder(65536)
    first = encoder.encode(GET)
    second = encoder.encode(GET)
    assert second != first  # the second one is index bytes only
    assert decode_and_remember(decoder, first, REQUEST) == (GET, False)
    assert decode_and_remember(decoder, second, REQUEST) == (GET, False)
    for _ in range(3):
        assert decode_and_remember(decoder, second, REQUEST) == (GET, True)


def test_a_block_that_inserts_is_never_remembered() -> None:
    block = hpack.Encoder().encode([(b"x-a", b"1")])  # literal with incremental indexing
    decoder, reference = Decoder(65536), hpack.Decoder()
    for _ in range(3):
        assert decode_and_remember(decoder, block) == (plain(reference.decode(block, raw=True)), False)
    # every decode inserted again: index 62 and 63 are both x-a: 1
    assert decode_and_remember(decoder, INDEX_63) == ([(b"x-a", b"1")], False)


def test_an_insertion_invalidates_a_cached_index() -> None:
    encoder, decoder = hpack.Encoder(), Decoder(65536)
    decode_and_remember(decoder, encoder.encode([(b"x-a", b"1")]))
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-a", b"1")], False)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-a", b"1")], True)
    decode_and_remember(decoder, encoder.encode([(b"x-b", b"2")]))  # now 62 is x-b and 63 is x-a
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-b", b"2")], False)
    assert decode_and_remember(decoder, INDEX_63) == ([(b"x-a", b"1")], False)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-b", b"2")], True)


def test_an_eviction_that_keeps_the_table_length_invalidates_a_cached_index() -> None:
    encoder = hpack.Encoder()
    encoder.header_table_size = 64  # room for one 36-byte entry: each insertion evicts the previous one
    decoder = Decoder(65536)
    first = encoder.encode([(b"x-a", b"1")])
    assert first.startswith(b"\x3f\x21")  # the size update to 64 leads the block
    decode_and_remember(decoder, first)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-a", b"1")], False)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-a", b"1")], True)
    decode_and_remember(decoder, encoder.encode([(b"x-b", b"2")]))  # evicts x-a: still one entry
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-b", b"2")], False)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-b", b"2")], True)
    with pytest.raises(HeaderBlockError):  # there is no second entry
        decoder.decode(INDEX_63, TRAILERS)


def test_an_equal_entry_reinserted_after_eviction_still_decodes_the_same() -> None:
    encoder = hpack.Encoder()
    encoder.header_table_size = 64
    decoder = Decoder(65536)
    decode_and_remember(decoder, encoder.encode([(b"x-a", b"1")]))
    decode_and_remember(decoder, INDEX_62)
    decode_and_remember(decoder, b"\x40\x03x-a\x011")  # the same entry again, not huffman: evicts the first
    assert decode_and_remember(decoder, INDEX_62)[0] == [(b"x-a", b"1")]  # cached or not, the same meaning


def test_emptying_the_table_makes_a_cached_index_an_error() -> None:
    encoder, decoder = hpack.Encoder(), Decoder(65536)
    decode_and_remember(decoder, encoder.encode([(b"x-a", b"1")]))
    decode_and_remember(decoder, INDEX_62)
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-a", b"1")], True)
    assert decode_and_remember(decoder, SIZE_0 + b"\x3f\xe1\x1f") == ([], False)  # to 0 and back to 4096
    with pytest.raises(HeaderBlockError):
        decoder.decode(INDEX_62, TRAILERS)


def test_a_repeated_block_still_applies_its_table_size_update() -> None:
    """A size update changes the table (its maximum) without touching an entry: a cache hit must not skip it.

    Here the table is left at 40 bytes instead of 100, so inserting a second entry evicts the
    first one, and index 63 then fails in our decoder while it means ``x-a:`` to the encoder.
    """
    to_100, to_40 = b"\x3f\x45" + INDEX_62, b"\x3f\x09" + INDEX_62  # size update, then x-a: (35 bytes)
    blocks = [b"\x40\x03x-a\x00", to_100, to_40, to_100, b"\x7e\x011", INDEX_63]
    decoder, reference = Decoder(65536), hpack.Decoder()
    for block in blocks:
        expected = plain(reference.decode(block, raw=True))
        assert decode_and_remember(decoder, block)[0] == expected
    assert expected == [(b"x-a", b"")]
    assert reference.header_table_size == 100


def test_an_index_that_was_an_error_becomes_valid_after_an_insertion() -> None:
    decoder = Decoder(65536)
    with pytest.raises(HeaderBlockError):
        decoder.decode(INDEX_62, TRAILERS)
    decode_and_remember(decoder, b"\x40\x03x-c\x013")
    assert decode_and_remember(decoder, INDEX_62) == ([(b"x-c", b"3")], False)


def test_only_the_last_decoded_block_is_remembered() -> None:
    decoder = Decoder(65536)
    a, b = b"\x82\x86\x84", b"\x83\x87\x85"  # static-table only: the table never changes
    headers_a, _ = decoder.decode(a, REQUEST)
    decoder.decode(b, REQUEST)
    decoder.remember(a, REQUEST, headers_a)  # too late: b was decoded since
    assert decoder.decode(a, REQUEST)[1] is False
    decoder.remember(b, REQUEST, [(b"x", b"y")])  # b is no longer the last block either
    assert decoder.decode(b, REQUEST) == (
        [(b":method", b"POST"), (b":scheme", b"https"), (b":path", b"/index.html")],
        False,
    )


def test_a_block_remembered_in_one_role_is_not_known_valid_in_another() -> None:
    decoder = Decoder(65536)
    block = b"\x88"  # :status 200
    headers, known = decoder.decode(block, RESPONSE)
    assert (plain(headers), known) == ([(b":status", b"200")], False)
    decoder.remember(block, RESPONSE, headers)
    assert decoder.decode(block, RESPONSE) == ([(b":status", b"200")], True)
    for role in (REQUEST, TRAILERS):
        headers, known = decoder.decode(block, role)
        assert (plain(headers), known) == ([(b":status", b"200")], False)


def test_remembering_in_a_new_role_replaces_the_old_one() -> None:
    decoder = Decoder(65536)
    block = b"\x0f\x10\x01x"  # literal without indexing: content-type (static 31): x
    headers, _ = decoder.decode(block, REQUEST)
    decoder.remember(block, REQUEST, headers)
    headers, known = decoder.decode(block, TRAILERS)
    assert not known
    decoder.remember(block, TRAILERS, headers)
    assert decoder.decode(block, TRAILERS)[1] is True
    assert decoder.decode(block, REQUEST)[1] is False


def test_the_cache_is_bounded_and_blocks_past_the_bound_still_decode() -> None:
    decoder, reference = Decoder(65536), hpack.Decoder()
    blocks = [bytes([0x80 | a, 0x80 | b]) for a in range(1, 62) for b in range(1, 62)][: MAX_CACHED + 100]
    for block in blocks:
        decode_and_remember(decoder, block)
    known = 0
    for block in blocks:
        headers, hit = decode_and_remember(decoder, block)
        assert headers == plain(reference.decode(block, raw=True))
        known += hit
    assert known == MAX_CACHED


def test_a_returned_list_can_be_changed_without_changing_the_cache() -> None:
    decoder = Decoder(65536)
    headers, _ = decoder.decode(b"\x82", REQUEST)
    decoder.remember(b"\x82", REQUEST, headers)
    hit, _ = decoder.decode(b"\x82", REQUEST)
    hit.append((b"x", b"y"))
    assert decoder.decode(b"\x82", REQUEST)[0] == [(b":method", b"GET")]


# Encoder cache


def test_encoder_repeats_come_from_the_cache_and_decode_right() -> None:
    encoder, reference = Encoder(), hpack.Decoder()
    blocks = [encoder.encode(GET) for _ in range(4)]
    assert blocks[0] == blocks[1] == blocks[2] == blocks[3]
    assert blocks[1] is blocks[0]  # the cached object itself
    for block in blocks:
        assert plain(reference.decode(block, raw=True)) == GET


def test_encoder_never_touches_the_dynamic_table() -> None:
    encoder, reference = Encoder(), hpack.Decoder()
    a, b = [(b"x-a", b"1")], [(b"x-b", b"2"), (b"content-length", b"17")]
    for headers in (a, a, b, a, b, b):
        assert plain(reference.decode(encoder.encode(headers), raw=True)) == headers
    assert len(reference.header_table.dynamic_entries) == 0


def test_encoder_cache_starts_over_when_full_and_still_encodes_right() -> None:
    encoder, reference = Encoder(), hpack.Decoder()
    for n in range(MAX_CACHED * 2 + 3):  # e.g. a request id per request
        headers = [(b":status", b"200"), (b"x-request-id", b"%d" % n)]
        assert plain(reference.decode(encoder.encode(headers), raw=True)) == headers


def test_encoder_table_size_change_reaches_the_decoder() -> None:
    encoder, reference = Encoder(), hpack.Decoder()
    for headers in ([(b"x-a", b"1")], [(b"x-a", b"1")]):
        assert plain(reference.decode(encoder.encode(headers), raw=True)) == headers
    encoder.set_table_size(0)
    block = encoder.encode([(b"x-a", b"1")])
    assert block[:1] == SIZE_0
    assert plain(reference.decode(block, raw=True)) == [(b"x-a", b"1")]
    assert reference.header_table_size == 0
    assert encoder.encode([(b"x-a", b"1")])[:1] != SIZE_0  # signalled once, in the next block only


def test_the_same_table_size_set_twice_still_signals_the_change() -> None:
    """RFC 7541 §4.2: the block after a size change starts with a size update, however often it was set."""
    encoder, reference = Encoder(), hpack.Decoder()
    encoder.set_table_size(0)
    assert reference.decode(encoder.encode([(b"x-a", b"1")]), raw=True) == [(b"x-a", b"1")]
    assert reference.header_table_size == 0
    encoder.set_table_size(4096)
    encoder.set_table_size(4096)  # a peer repeating its SETTINGS
    block = encoder.encode([(b"x-a", b"1")])
    assert block.startswith(b"\x3f\xe1\x1f")  # size update to 4096
    assert plain(reference.decode(block, raw=True)) == [(b"x-a", b"1")]
    assert plain(reference.decode(encoder.encode([(b"x-a", b"1")]), raw=True)) == [(b"x-a", b"1")]


def test_a_size_lowered_then_raised_before_a_block_signals_both() -> None:
    """RFC 7541 §4.2: the smallest size since the last block, then the final one."""
    encoder, reference = Encoder(), hpack.Decoder()
    encoder.set_table_size(0)
    encoder.set_table_size(4096)
    block = encoder.encode([(b"x-a", b"1")])
    assert block.startswith(SIZE_0 + b"\x3f\xe1\x1f")
    assert plain(reference.decode(block, raw=True)) == [(b"x-a", b"1")]
    assert reference.header_table_size == 4096
    encoder.set_table_size(100)
    encoder.set_table_size(200)
    encoder.set_table_size(0)  # the smallest is the final one: signalled once
    assert encoder.encode([(b"x-a", b"1")]) == SIZE_0 + b"\x00\x03x-a\x011"  # then the field


# Long random sequences

NAMES = [b"x-a", b"x-b", b"x-request-id", b"content-type", b"accept", b":path", b"user-agent", b"grpc-status"]
VALUES = [b"", b"1", b"2", b"text/plain", b"/svc.Method", b"a" * 40, b"\x80\xff", b"v" * 200]
fields = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)) | st.tuples(
    st.sampled_from(NAMES), st.binary(max_size=12)
)
# Mostly short lists, so that small tables (forced by the resizes) hold a few entries and evict them.
header_lists = st.lists(fields, min_size=1, max_size=2) | st.lists(fields, max_size=8)
# A small pool of header lists, repeated in random order, keeps the cache busy.
pools = st.lists(header_lists, min_size=1, max_size=5)
TABLE_SIZES = [0, 40, 64, 100, 256, 4096]
table_sizes = st.sampled_from(TABLE_SIZES)
encode_step = st.integers(min_value=0, max_value=40).map(lambda i: ("encode", i))
# "size" is a peer's SETTINGS_HEADER_TABLE_SIZE, which a peer may repeat ("again": the same value twice).
size_step = st.tuples(st.sampled_from(["size", "again"]), table_sizes)
steps = st.one_of(encode_step, encode_step, encode_step, size_step)


@settings(max_examples=150, deadline=None)
@given(pools, table_sizes, st.lists(steps, min_size=1, max_size=60))
def test_encoder_output_decodes_with_plain_hpack(
    pool: list[Headers], size: int, script: list[tuple[str, int]]
) -> None:
    encoder, reference, ours = Encoder(), hpack.Decoder(), Decoder(1 << 20)
    encoder.set_table_size(size)
    for action, arg in script:
        if action != "encode":
            for _ in range(2 if action == "again" else 1):
                encoder.set_table_size(arg)
            continue
        headers = pool[arg % len(pool)]
        block = encoder.encode(headers)
        assert plain(reference.decode(block, raw=True)) == headers
        assert decode_and_remember(ours, block)[0] == headers


@settings(max_examples=150, deadline=None)
@given(
    pools,
    table_sizes,
    st.lists(steps, min_size=1, max_size=60),
    st.sampled_from([REQUEST, RESPONSE, TRAILERS]),
)
def test_decoder_agrees_with_plain_hpack_on_any_sequence(
    pool: list[Headers], size: int, script: list[tuple[str, int]], role: int
) -> None:
    """Blocks from a plain encoder (huffman or not, table resizes) decode like a plain decoder."""
    encoder, reference, ours = hpack.Encoder(), hpack.Decoder(), Decoder(1 << 20)
    encoder.header_table_size = size
    for n, (action, arg) in enumerate(script):
        if action != "encode":
            if arg != encoder.header_table_size:  # plain hpack loses a pending update set twice
                encoder.header_table_size = arg
            continue
        block = encoder.encode(pool[arg % len(pool)], huffman=n % 2 == 0)
        for _ in range(2):  # the second time is a cache hit when the first left the table alone
            try:
                expected = plain(reference.decode(block, raw=True))
            except hpack.HPACKError:  # decoding it again made a stale index: ours must fail too
                with pytest.raises(HeaderBlockError):
                    ours.decode(block, role)
                return
            assert decode_and_remember(ours, block, role)[0] == expected


def test_an_oversized_header_list_is_its_own_error() -> None:
    block = hpack.Encoder().encode([(b"x-big", b"v" * 200)])
    with pytest.raises(HeaderListTooLarge):
        Decoder(100).decode(block, REQUEST)


def test_importing_the_codec_does_not_load_hpack() -> None:
    code = "import sys, lightmesh.protocol.h2codec; print('hpack' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
