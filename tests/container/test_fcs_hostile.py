"""Crafted and oddly assembled streams: duplicates, packets from the past, junk, chained
streams, sample counts the tokens cannot justify, headers with impossible fields (issue 18)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fcs_testutil import decode, encode, make_header, pattern_tokens

from focalcli.container import Damage, FcsFormatError, FcsReader, FcsValueError, summarize
from focalcli.container.fcs import (
    crc16,
    encode_header,
    encode_varint,
    frame_packet,
    samples_in_tokens,
    truncated_tail_tokens,
)
from focalcli.container.reader import PAST_WINDOW

# 14 s at 50 Hz with 4 s packets: 3 data packets and an end marker with 100 tokens.
LONG_HEADER = make_header(packet_tokens=200, num_samples=14 * 48000)
LONG_TOKS = pattern_tokens(1, 700, 12, seed=3)
LONG = encode(LONG_HEADER, LONG_TOKS)


def split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header, data packets, end marker) of a clean stream."""
    reader = FcsReader(io.BytesIO(data))
    head, size = reader.header_bytes, reader.data_packet_bytes
    n = reader.read_all()[0].shape[1] // reader.header.packet_tokens
    packets = [data[head + k * size : head + (k + 1) * size] for k in range(n)]
    return data[:head], packets, data[head + n * size :]


def test_duplicated_packet_is_dropped_not_255_lost() -> None:
    head, packets, end = split(LONG)
    data = head + packets[0] + packets[1] + packets[1] + packets[2] + end
    reader, toks, damages = decode(data)
    assert reader.end_seen and damages == [Damage(400, 0, "duplicate")]
    assert reader.stats.packets_duplicate == 1 and reader.stats.packets_missing == 0
    np.testing.assert_array_equal(toks, LONG_TOKS)
    summary = summarize(io.BytesIO(data))
    assert summary.tokens == 700 and summary.lost_tokens == 0 and not summary.intact


def test_swapped_packets_lose_one_and_drop_the_late_one() -> None:
    head, packets, end = split(LONG)
    data = head + packets[0] + packets[2] + packets[1] + end
    reader, toks, damages = decode(data)
    assert reader.end_seen
    assert damages == [Damage(200, 200, "gap"), Damage(600, 0, "duplicate")]
    assert toks.shape[1] == 700
    np.testing.assert_array_equal(toks[:, 400:], LONG_TOKS[:, 400:])


def test_repeated_live_packet_inserts_no_silence() -> None:
    """80 ms packets: one repeated packet used to insert 255 packets (20.4 s) of silence."""
    header = make_header(packet_tokens=4)
    toks = pattern_tokens(1, 700, 12, seed=4)
    head, packets, end = split(encode(header, toks, num_samples=700 * 960))
    data = head + b"".join(packets[:100]) + packets[99] + b"".join(packets[100:]) + end
    reader, got, damages = decode(data)
    assert reader.end_seen and damages == [Damage(400, 0, "duplicate")]
    np.testing.assert_array_equal(got, toks)


@pytest.mark.parametrize("back", [1, 2, PAST_WINDOW - 1])
def test_packets_from_the_past_are_discarded(back: int) -> None:
    header = make_header(packet_tokens=4)
    toks = pattern_tokens(1, 120, 12, seed=5)
    head, packets, end = split(encode(header, toks))
    data = head + b"".join(packets[:20]) + packets[20 - back] + b"".join(packets[20:]) + end
    reader, got, damages = decode(data)
    assert reader.end_seen and [d.kind for d in damages] == ["duplicate"]
    np.testing.assert_array_equal(got, toks)


def test_a_real_long_gap_is_still_a_gap() -> None:
    """Beyond the past window a jump is a forward gap, as before."""
    header = make_header(packet_tokens=1)
    toks = pattern_tokens(1, 400, 12, seed=6)
    head, packets, end = split(encode(header, toks))
    gap = 256 - PAST_WINDOW - 1
    data = head + b"".join(packets[:10] + packets[10 + gap :]) + end
    reader, _, damages = decode(data)
    assert reader.end_seen and damages == [Damage(10, gap, "gap")]


def test_junk_at_the_end_and_before_the_end_marker_is_reported() -> None:
    head, packets, end = split(LONG)
    junk = bytes(range(0x20, 0x70)) * 3  # no sync pattern in it
    reader, toks, damages = decode(head + b"".join(packets) + junk + end)
    assert reader.end_seen and damages == [Damage(600, 0, "junk")]
    assert damages[0].skipped_bytes == 240
    np.testing.assert_array_equal(toks, LONG_TOKS)
    summary = summarize(io.BytesIO(head + b"".join(packets) + junk + end))
    assert not summary.intact and summary.skipped_bytes == 240


def test_chained_streams_are_read_one_after_the_other() -> None:
    other = encode(make_header(packet_tokens=7), pattern_tokens(1, 30, 12, seed=8), 30 * 960)
    stream = io.BytesIO(LONG + other)
    first = FcsReader(stream)
    toks, damages, _ = first.read_all()
    assert damages == [] and toks.shape[1] == 700
    second = first.next_stream()
    assert second is not None and second.header.packet_tokens == 7
    toks2, damages2, n2 = second.read_all()
    assert damages2 == [] and n2 == 30 * 960
    np.testing.assert_array_equal(toks2, pattern_tokens(1, 30, 12, seed=8))
    assert second.stats.bytes_read == len(other)
    assert second.next_stream() is None
    summary = summarize(io.BytesIO(LONG + other))
    assert summary.streams == 2 and summary.tokens == 730 and summary.intact
    assert summary.total_bytes == len(LONG) + len(other)


def test_junk_after_the_end_marker_is_damage_in_the_summary() -> None:
    first = FcsReader(io.BytesIO(LONG + b"trailing junk"))
    first.read_all()
    with pytest.raises(FcsFormatError):
        first.next_stream()
    assert first.skip_rest() == len(b"trailing junk")
    summary = summarize(io.BytesIO(LONG + b"trailing junk"))
    assert summary.streams == 1 and not summary.intact
    assert [d.kind for d in summary.damages] == ["junk"]
    assert summary.total_bytes == len(LONG) + len(b"trailing junk")


def end_marker(seq: int, total: int, samples_code: int, tail: bytes = b"") -> bytes:
    return frame_packet(b"\xfc\xe5", seq, encode_varint(total) + encode_varint(samples_code)
                        + tail)


def test_header_claiming_a_billion_samples_without_packets_is_bounded() -> None:
    """41 bytes claiming 10**9 samples: the justified count is a small tail, not 10**9."""
    header = make_header(num_samples=10**9, packet_tokens=200)
    data = encode_header(header)
    reader, toks, damages = decode(data)
    assert damages == [Damage(0, 0, "truncated")] and toks.shape[1] == 0
    assert reader.stated_num_samples == 10**9
    tail = truncated_tail_tokens(header)
    assert tail == 400 and reader.num_samples == samples_in_tokens(header, tail)
    # with an empty end marker that knows no count, the header's count cannot be justified
    reader, _, damages = decode(data + end_marker(0, 0, 0))
    assert reader.end_seen and damages == [] and reader.num_samples == 960


def test_end_marker_with_a_count_its_tokens_cannot_hold_is_not_trusted() -> None:
    data = encode_header(make_header(packet_tokens=200)) + end_marker(0, 0, 2**40)
    reader, _, damages = decode(data)
    assert not reader.end_seen and damages == [Damage(0, 0, "truncated")]
    assert reader.num_samples is None


@pytest.mark.parametrize("rate", [65536.0, 2**32 - 1])
def test_token_rate_above_the_input_rate_is_refused(rate: float) -> None:
    with pytest.raises(FcsValueError, match="exceeds the input sample rate"):
        make_header(token_rate=rate)
    good = bytearray(encode_header(make_header(token_rate=50.0)))
    # token rate numerator: byte 6 (50 = one byte); craft 65536 = 80 80 04 with a valid CRC
    crafted = bytes(good[:6]) + encode_varint(int(rate)) + bytes(good[7:-2])
    crafted += crc16(crafted).to_bytes(2, "big")
    with pytest.raises(FcsFormatError, match="exceeds the input sample rate"):
        FcsReader(io.BytesIO(crafted))


def test_version_2_header_names_the_token_space() -> None:
    header = make_header(token_space="00112233AABBCCDD", num_samples=320)
    assert header.version == 2 and header.token_space == "00112233aabbccdd"
    data = encode_header(header)
    assert data[3] == 2 and bytes.fromhex("00112233aabbccdd") in data
    assert FcsReader(io.BytesIO(data)).header == header
    assert make_header().version == 1 and encode_header(make_header())[3] == 1
    with pytest.raises(FcsValueError, match="token space"):
        make_header(token_space="xyz")


def test_writer_refuses_a_count_its_tokens_cannot_hold() -> None:
    from focalcli.container import FcsWriter

    writer = FcsWriter(io.BytesIO(), make_header(packet_tokens=4))
    writer.write(pattern_tokens(1, 10, 12))
    with pytest.raises(FcsValueError, match="need 21 tokens per channel, but only 10"):
        writer.close(num_samples=20 * 960 + 1)  # 48 kHz source: 960 samples per token
    writer.close(num_samples=11 * 960)  # one token of rounding is fine
