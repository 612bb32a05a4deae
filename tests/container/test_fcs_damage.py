"""Damaged streams: truncation, corruption, gaps, garbage, sequence wrap-around.

The invariant checked everywhere: reading never raises (past a valid header) and every token
outside the reported damage is exactly the token that was written.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from fcs_testutil import decode, encode, make_header, pattern_tokens

from focalcli.container import FILL_TOKEN, Damage, FcsFormatError, FcsReader
from focalcli.container.fcs import DATA_SYNC, END_SYNC

# Small file: 2 channels, 7-bit tokens, 4 tokens per packet, 30 tokens -> 7 data packets of
# 12 bytes (3 framing + 7 payload + 2 CRC) and an end marker carrying the last 2 tokens.
CHANNELS, BITS, P, N = 2, 7, 4, 30
SMALL_HEADER = make_header(
    channels=CHANNELS, bits_per_token=BITS, packet_tokens=P, metadata={"k": "v"}
)
SMALL_TOKS = pattern_tokens(CHANNELS, N, BITS, seed=7)
SMALL = encode(SMALL_HEADER, SMALL_TOKS, num_samples=N * 320)
HEAD = FcsReader(io.BytesIO(SMALL)).header_bytes
L = FcsReader(io.BytesIO(SMALL)).data_packet_bytes
N_DATA = N // P


def check_outside_damage_exact(
    original: npt.NDArray[np.int64], toks: npt.NDArray[np.int64], damages: list[Damage]
) -> None:
    """Tokens not covered by a damage record equal the original; lost ones are FILL_TOKEN."""
    lost = np.zeros(toks.shape[1], dtype=bool)
    for d in damages:
        assert d.token_count >= 0 and d.token_start <= toks.shape[1]
        lost[d.token_start : d.token_start + d.token_count] = True
    assert toks.shape[1] <= original.shape[1]
    np.testing.assert_array_equal(toks[:, ~lost], original[:, : toks.shape[1]][:, ~lost])
    assert (toks[:, lost] == FILL_TOKEN).all()


def test_small_file_layout() -> None:
    # end marker: sync+seq 3, total 1, num_samples+1 2, 2x2 tokens x 7 bits 4, CRC 2
    assert L == 12 and len(SMALL) == HEAD + N_DATA * L + (3 + 1 + 2 + 4 + 2)


def test_truncation_at_every_offset() -> None:
    for cut in range(len(SMALL)):
        if cut < HEAD:
            with pytest.raises(FcsFormatError):
                FcsReader(io.BytesIO(SMALL[:cut]))
            continue
        reader, toks, damages = decode(SMALL[:cut])
        intact_packets = min((cut - HEAD) // L, N_DATA)
        assert not reader.end_seen
        assert damages == [Damage(intact_packets * P, 0, "truncated")], cut
        np.testing.assert_array_equal(toks, SMALL_TOKS[:, : intact_packets * P])
        assert reader.num_samples is None  # the header did not know, the end marker is lost


@pytest.mark.parametrize("mask", [0x01, 0x10, 0x80, 0xFF, 0x5A])
def test_corruption_of_each_byte(mask: int) -> None:
    for pos in range(HEAD, len(SMALL)):
        bad = bytearray(SMALL)
        bad[pos] ^= mask
        reader, toks, damages = decode(bytes(bad))
        packet = (pos - HEAD) // L
        if packet < N_DATA:
            assert reader.end_seen, pos
            assert damages == [Damage(packet * P, P, "corrupt")], pos
            assert reader.stats.packets_corrupt == 1
        else:  # the end marker: its tail and the totals are lost
            assert not reader.end_seen
            assert damages == [Damage(N_DATA * P, 0, "truncated")]
        check_outside_damage_exact(SMALL_TOKS, toks, damages)


def packet_span(k: int) -> slice:
    return slice(HEAD + k * L, HEAD + (k + 1) * L)


@pytest.mark.parametrize("dropped", [[0], [3], [6], [2, 3, 4], [1, 5], [0, 1, 2, 3, 4, 5, 6]])
def test_dropped_packets_are_gaps(dropped: list[int]) -> None:
    data = b"".join(SMALL[packet_span(k)] for k in range(N_DATA) if k not in dropped)
    reader, toks, damages = decode(SMALL[:HEAD] + data + SMALL[HEAD + N_DATA * L :])
    assert reader.end_seen and toks.shape[1] == N
    runs: list[Damage] = []
    for k in dropped:
        if runs and runs[-1].token_start + runs[-1].token_count == k * P:
            runs[-1].token_count += P
        else:
            runs.append(Damage(k * P, P, "gap"))
    assert damages == runs
    assert reader.stats.packets_missing == len(dropped)
    check_outside_damage_exact(SMALL_TOKS, toks, damages)


def test_inserted_garbage_loses_nothing_but_is_reported() -> None:
    """Junk between packets loses no token, and is a damage record (not "integrity ok")."""
    garbage = bytes(range(0x20, 0x60))  # no sync pattern in it
    data = SMALL[: HEAD + 2 * L] + garbage + SMALL[HEAD + 2 * L :]
    reader, toks, damages = decode(data)
    assert reader.end_seen and damages == [Damage(2 * P, 0, "junk")]
    assert damages[0].skipped_bytes == len(garbage) and not damages[0].loses_tokens
    assert reader.stats.bytes_skipped == len(garbage)
    np.testing.assert_array_equal(toks, SMALL_TOKS)


def test_bytes_after_end_marker_are_not_read() -> None:
    stream = io.BytesIO(SMALL + b"trailing junk")
    reader = FcsReader(stream)
    toks, damages, _ = reader.read_all()
    assert damages == [] and stream.tell() == len(SMALL)


def test_partial_packet_loss_in_the_middle() -> None:
    """Some bytes of a packet vanish (not a whole packet): it is reported corrupt."""
    data = SMALL[: HEAD + 3 * L + 4] + SMALL[HEAD + 3 * L + 9 :]
    reader, toks, damages = decode(data)
    assert reader.end_seen and damages == [Damage(3 * P, P, "corrupt")]
    check_outside_damage_exact(SMALL_TOKS, toks, damages)


def test_garbage_after_header_never_crashes() -> None:
    rng = np.random.default_rng(11)
    for trial in range(40):
        size = int(rng.integers(0, 3000))
        blob = bytearray(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
        for pos in rng.integers(0, max(size - 1, 1), size=size // 20):  # plenty of sync patterns
            blob[pos : pos + 2] = DATA_SYNC if trial % 2 else END_SYNC
        reader, toks, damages = decode(SMALL[:HEAD] + bytes(blob[:size]))
        assert damages[-1].kind == "truncated" or reader.end_seen


def test_random_damage_keeps_the_invariant() -> None:
    """Random flips, bursts, deletions and insertions: tokens outside damage stay exact."""
    header = make_header(channels=2, bits_per_token=12, packet_tokens=5)
    original = pattern_tokens(2, 400, 12, seed=5)
    clean = encode(header, original, num_samples=12345)
    head = FcsReader(io.BytesIO(clean)).header_bytes
    rng = np.random.default_rng(12)
    for _ in range(300):
        data = bytearray(clean)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(head, len(data)))
            action = rng.integers(4)
            if action == 0:
                data[pos] ^= 1 << int(rng.integers(8))
            elif action == 1:
                n = int(rng.integers(1, 40))
                data[pos : pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            elif action == 2:
                del data[pos : pos + int(rng.integers(1, 30))]
            else:
                data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 30)), np.uint8).tobytes()
        reader, toks, damages = decode(bytes(data))
        if reader.end_seen:
            assert toks.shape[1] == 400 and reader.num_samples == 12345
        check_outside_damage_exact(original, toks, damages)


class TestSequenceWrap:
    """One token per packet: 1000 packets, so the 8-bit sequence number wraps three times."""

    header = make_header(packet_tokens=1)
    original = pattern_tokens(1, 1000, 12, seed=9)
    clean = encode(header, original)
    head = FcsReader(io.BytesIO(clean)).header_bytes
    size = FcsReader(io.BytesIO(clean)).data_packet_bytes

    def span(self, first: int, last: int) -> slice:
        return slice(self.head + first * self.size, self.head + last * self.size)

    def test_round_trip_across_wraps(self) -> None:
        items = list(FcsReader(io.BytesIO(self.clean)).packets())
        assert [p.seq for p in items[250:262]] == [*range(250, 256), *range(6)]  # type: ignore[union-attr]
        reader, toks, damages = decode(self.clean)
        assert damages == [] and reader.end_seen
        np.testing.assert_array_equal(toks, self.original)

    def test_gap_across_the_wrap(self) -> None:
        data = bytearray(self.clean)
        del data[self.span(254, 258)]
        reader, toks, damages = decode(bytes(data))
        assert damages == [Damage(254, 4, "gap")] and reader.end_seen
        check_outside_damage_exact(self.original, toks, damages)

    @pytest.mark.parametrize("count", [255, 256, 300, 600])
    def test_long_corruption_counted_from_bytes(self, count: int) -> None:
        """Corruption longer than the sequence period: skipped bytes give the true count."""
        data = bytearray(self.clean)
        region = self.span(100, 100 + count)
        data[region] = bytes(len(data[region]))
        reader, toks, damages = decode(bytes(data))
        assert damages == [Damage(100, count, "corrupt")] and reader.end_seen
        check_outside_damage_exact(self.original, toks, damages)

    def test_deleting_a_whole_sequence_period_is_not_silent(self) -> None:
        """256 packets removed cleanly look contiguous; the end marker exposes the shift."""
        data = bytearray(self.clean)
        del data[self.span(200, 456)]
        reader, _, damages = decode(bytes(data))
        assert not reader.end_seen and damages[-1].kind == "truncated"


def test_iteration_can_stop_and_resume() -> None:
    data = SMALL[: HEAD + 2 * L] + SMALL[HEAD + 3 * L :]  # packet 2 dropped
    reader = FcsReader(io.BytesIO(data))
    items = []
    for item in reader.packets():
        items.append(item)
        if isinstance(item, Damage):
            break
    rest = FcsReader(io.BytesIO(data))
    expected = list(rest.packets())
    items += list(reader.packets())
    assert [(type(i), i.token_start) for i in items] == [(type(i), i.token_start) for i in expected]
    assert [type(i) for i in items].count(Damage) == 1 and len(items) == 8
    # read_all after a partial iteration returns the rest, from where iteration stopped
    reader = FcsReader(io.BytesIO(data))
    first = next(iter(reader))
    toks, damages, _ = reader.read_all()
    assert first.token_start == 0 and toks.shape[1] == N - P
    assert damages == [Damage(2 * P, P, "gap")]  # positions stay absolute
