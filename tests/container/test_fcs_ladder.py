"""Format version 3: bitrate rungs per packet, and compact framing for live links.

Spec: docs/fcs-format.md, 2.7. Version 1 and 2 files are untouched (test_fcs_golden.py).
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
from fcs_testutil import make_header

from focalcli.container import LOST_TOKEN, FcsFormatError, FcsReader, FcsValueError, FcsWriter
from focalcli.container.fcs import (
    COMPACT_CHECK_BYTES,
    compact_check,
    data_packet_bytes,
    encode_header,
    payload_bytes,
    read_header,
)
from focalcli.container.reader import Damage, Packet

SPACE = "00112233aabbccdd"
BITS = 12


def ladder_header(framing: str = "sync", groups: int = 4, packet_tokens: int = 4,
                  channels: int = 1, **kw: object) -> object:
    return make_header(token_space=SPACE, groups=groups, framing=framing,
                       packet_tokens=packet_tokens, channels=channels, **kw)


def frames(n: int, groups: int, channels: int = 1, seed: int = 0) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1 << BITS, size=(channels, n, groups), dtype=np.int64)


def write(header: object, chunks: list[npt.NDArray[np.int64]], num_samples: int | None = None
          ) -> bytes:
    out = io.BytesIO()
    with FcsWriter(out, header) as writer:  # type: ignore[arg-type]
        for chunk in chunks:
            writer.write(chunk)
        writer.close(num_samples)
    return out.getvalue()


def items(data: bytes) -> list[Packet | Damage]:
    return list(FcsReader(io.BytesIO(data)).packets())


def packets(data: bytes) -> list[Packet]:
    return [p for p in items(data) if isinstance(p, Packet)]


def damages(data: bytes) -> list[Damage]:
    return [d for d in items(data) if isinstance(d, Damage)]


# -- header ----------------------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["sync", "compact"])
def test_version_3_header_round_trips(framing: str) -> None:
    header = ladder_header(framing)
    raw = encode_header(header)  # type: ignore[arg-type]
    assert raw[3] == 3
    back = read_header(io.BytesIO(raw))
    assert back == header and back.groups == 4 and back.framing == framing


def test_compact_framing_without_a_ladder_is_version_3_too() -> None:
    header = ladder_header("compact", groups=1)
    assert header.version == 3  # type: ignore[attr-defined]
    assert read_header(io.BytesIO(encode_header(header))).framing == "compact"  # type: ignore[arg-type]


def test_single_group_files_keep_versions_1_and_2() -> None:
    assert make_header().version == 1
    assert make_header(token_space=SPACE).version == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"groups": 0}, "groups 0 out of range 1..16"),
    ({"groups": 17}, "groups 17 out of range 1..16"),
    ({"framing": "tight"}, "framing must be one of"),
])
def test_bad_ladder_fields_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(FcsValueError, match=message):
        make_header(token_space=SPACE, **fields)


def test_a_ladder_needs_a_token_space() -> None:
    with pytest.raises(FcsValueError, match="needs a token space"):
        make_header(groups=4)


def test_a_version_3_header_that_claims_nothing_new_is_corrupt() -> None:
    from focalcli.container.fcs import crc16

    raw = bytearray(encode_header(ladder_header("sync", groups=2)))  # type: ignore[arg-type]
    at = raw.index(bytes.fromhex(SPACE)) + 8
    raw[at] = 1  # groups 1, sync framing: nothing version 3 is for
    raw[-2:] = crc16(bytes(raw[:-2])).to_bytes(2, "big")
    with pytest.raises(FcsFormatError, match="version 3 without a ladder"):
        read_header(io.BytesIO(bytes(raw)))
    raw[at], raw[at + 1] = 2, 7  # an unknown framing
    raw[-2:] = crc16(bytes(raw[:-2])).to_bytes(2, "big")
    with pytest.raises(FcsFormatError, match="unknown framing 7"):
        read_header(io.BytesIO(bytes(raw)))


# -- rungs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["sync", "compact"])
def test_rungs_change_at_packet_boundaries_and_read_back(framing: str) -> None:
    schedule = [4, 1, 2, 2, 1, 4, 4, 1]  # one chunk = one packet of 4 frames each
    chunks = [frames(4, g, seed=i) for i, g in enumerate(schedule)]
    data = write(ladder_header(framing), chunks + [frames(3, 2, seed=99)], num_samples=3000)
    got = packets(data)
    assert [p.groups for p in got] == schedule + [2]  # the end marker's tail: rung 2
    for chunk, packet in zip(chunks, got, strict=False):
        g = chunk.shape[2]
        assert packet.toks.shape == (1, 4, 4)
        assert np.array_equal(packet.toks[:, :, :g], chunk)
        assert (packet.toks[:, :, g:] == LOST_TOKEN).all()  # groups not sent
    assert damages(data) == []
    toks, lost, num_samples = FcsReader(io.BytesIO(data)).read_all()
    assert toks.shape == (1, 35, 4) and lost == [] and num_samples == 3000


def test_a_packet_carries_the_lowest_rung_of_its_frames() -> None:
    header = ladder_header("sync", packet_tokens=8)
    a, b = frames(5, 4, seed=1), frames(3, 2, seed=2)  # one packet: 5 frames at 4, 3 at 2
    (packet,) = packets(write(header, [a, b]))
    assert packet.groups == 2
    assert np.array_equal(packet.toks[:, :5, :2], a[:, :, :2])
    assert np.array_equal(packet.toks[:, 5:, :2], b)


def test_bytes_do_not_depend_on_how_the_writes_were_split() -> None:
    toks = frames(37, 2, channels=2)
    header = ladder_header("compact", channels=2)
    whole = write(header, [toks])
    assert write(header, [toks[:, i : i + 5] for i in range(0, 37, 5)]) == whole


def test_wrong_token_shapes_refused() -> None:
    writer = FcsWriter(io.BytesIO(), ladder_header())  # type: ignore[arg-type]
    for bad in (np.zeros((1, 4), dtype=np.int64), np.zeros((1, 4, 5), dtype=np.int64),
                np.zeros((2, 4, 1), dtype=np.int64)):
        with pytest.raises(FcsValueError, match=r"shape \(1, n, g\)"):
            writer.write(bad)


def test_sync_framing_packet_sizes() -> None:
    header = ladder_header("sync", packet_tokens=200)
    # sync 2 + seq 1 + rung 1 + payload + CRC 2
    assert [data_packet_bytes(header, g) for g in (1, 2, 4)] == [  # type: ignore[arg-type]
        6 + 300, 6 + 600, 6 + 1200]


# -- compact framing -----------------------------------------------------------------------------

def live(schedule: list[int], seed: int = 0) -> tuple[bytes, list[npt.NDArray[np.int64]]]:
    chunks = [frames(4, g, seed=seed + i) for i, g in enumerate(schedule)]
    return write(ladder_header("compact"), chunks, num_samples=len(schedule) * 1280 * 3), chunks


def split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header, compact packets, end marker) of a clean compact stream."""
    reader = FcsReader(io.BytesIO(data))
    pos, body = reader.header_bytes, []
    for item in reader.packets():
        assert isinstance(item, Packet)
        if reader.end_seen:
            break
        size = data_packet_bytes(reader.header, item.groups)
        body.append(data[pos : pos + size])
        pos += size
    return data[: reader.header_bytes], body, data[pos:]


def test_compact_packets_are_payload_and_one_check_byte() -> None:
    data, chunks = live([1, 2, 4])
    head, body, _end = split(data)
    assert [len(p) for p in body] == [7, 13, 25]
    for seq, (raw, chunk) in enumerate(zip(body, chunks, strict=True)):
        g = chunk.shape[2]
        assert raw[-1] == compact_check(seq, g, raw[:-1])


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_compact_live_overhead_is_under_25_percent_on_every_rung(groups: int) -> None:
    """80 ms packets (4 tokens at 50 Hz) for 60 s, header and end marker included."""
    n = 750  # packets
    data = write(ladder_header("compact"), [frames(4 * n, groups)], num_samples=n * 3840)
    payload = n * payload_bytes(ladder_header("compact"), groups)  # type: ignore[arg-type]
    assert len(data) <= 1.25 * payload
    per_packet = (payload_bytes(ladder_header("compact"), groups)  # type: ignore[arg-type]
                  + COMPACT_CHECK_BYTES)
    assert per_packet / payload_bytes(ladder_header("compact"), groups) <= 1.17  # type: ignore[arg-type]


def test_compact_lost_packets_are_a_gap_of_the_right_size() -> None:
    data, chunks = live([1] * 10)
    head, body, end = split(data)
    got = head + b"".join(body[:3] + body[6:]) + end  # packets 3, 4, 5 deleted cleanly
    assert [d for d in damages(got) if d.loses_tokens] == [Damage(12, 12, "gap")]
    toks, _, _ = FcsReader(io.BytesIO(got)).read_all()
    assert np.array_equal(toks[0, 24:28, :1], chunks[6][0])


def test_compact_duplicate_is_dropped() -> None:
    data, _ = live([2] * 6)
    head, body, end = split(data)
    got = head + b"".join(body[:4] + [body[3]] + body[4:]) + end
    assert [d.kind for d in damages(got)] == ["duplicate"]
    assert len(packets(got)) == len(packets(data))


def test_compact_corruption_is_detected_and_the_reader_locks_on_again() -> None:
    data, chunks = live([1] * 12)
    head, body, end = split(data)
    bad = bytearray(body[4])
    bad[2] ^= 0x40
    got = head + b"".join(body[:4] + [bytes(bad)] + body[5:]) + end
    lost = [d for d in damages(got) if d.loses_tokens]
    assert lost == [Damage(16, 4, "corrupt")]
    toks, _, _ = FcsReader(io.BytesIO(got)).read_all()
    assert (toks[0, 16:20] == LOST_TOKEN).all()
    assert np.array_equal(toks[0, 20:24, :1], chunks[5][0])  # the next packet is intact


def test_compact_garbage_between_packets_is_junk_and_rung_changes_survive_it() -> None:
    data, chunks = live([4, 4, 1, 1, 1, 2, 2, 2, 2])
    head, body, end = split(data)
    junk = bytes(np.random.default_rng(5).integers(0, 256, 40, dtype=np.uint8))
    got = head + b"".join(body[:4]) + junk + b"".join(body[4:]) + end
    kinds = [d.kind for d in damages(got)]
    assert kinds == ["junk"], damages(got)
    assert [p.groups for p in packets(got)] == [4, 4, 1, 1, 1, 2, 2, 2, 2]  # empty tail


def test_compact_truncation_is_reported() -> None:
    data, _ = live([1] * 5)
    head, body, _end = split(data)
    got = head + b"".join(body[:3]) + body[3][:4]
    assert damages(got)[-1].kind == "truncated"
    assert len(packets(got)) == 3


def test_compact_stream_read_from_a_trickling_pipe() -> None:
    """One byte per read, as a slow link delivers it: the same packets as a whole file."""

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            out = self.data[self.pos : self.pos + 1]
            self.pos += len(out)
            return out

    data, _ = live([1, 2, 4, 1, 1])
    slow = [(p.seq, p.groups, p.toks.tolist()) for p in FcsReader(Trickle(data)).packets()
            if isinstance(p, Packet)]
    assert slow == [(p.seq, p.groups, p.toks.tolist()) for p in packets(data)]


def test_compact_single_group_streams_work_too() -> None:
    toks = np.random.default_rng(1).integers(0, 4096, size=(1, 40))
    data = write(ladder_header("compact", groups=1), [toks])
    reader = FcsReader(io.BytesIO(data))
    back, lost, _ = reader.read_all()
    assert lost == [] and np.array_equal(back, toks)
    # header, ten packets of 6 payload bytes and a check byte, an 8-byte end marker
    assert len(data) == reader.header_bytes + 10 * (6 + COMPACT_CHECK_BYTES) + 8


def test_compact_packet_followed_by_copies_of_itself_from_the_first_packet_on() -> None:
    data, _ = live([4, 1, 2])
    head, body, end = split(data)
    got = head + b"".join([body[0]] * 3 + [body[1]] * 2 + body[2:]) + end
    assert [d.kind for d in damages(got)] == ["duplicate"] * 3
    assert [p.groups for p in packets(got)] == [4, 1, 2]


def clean_read_is_exact(data: bytes, chunks: list[npt.NDArray[np.int64]]) -> bool:
    toks, lost, _ = FcsReader(io.BytesIO(data)).read_all()
    return not lost and all(np.array_equal(toks[0, 4 * k : 4 * k + 4, : c.shape[2]], c[0])
                            for k, c in enumerate(chunks))


def live_schedule(rng: np.random.Generator, packets: int = 40) -> list[int]:
    """Rungs 1, 2 and 4 held for 1 to 20 packets each, as a sender stepping its bitrate."""
    schedule: list[int] = []
    while len(schedule) < packets:
        schedule += [int(rng.choice([1, 2, 4]))] * int(rng.integers(1, 21))
    return schedule[:packets]


def test_compact_rung_changes_are_misread_rarely() -> None:
    """A rung change in a clean compact stream is misread when the old rung's check happens
    to match (2^-8 a change, the documented cost); 1000 streams stay within it."""
    rng = np.random.default_rng(11)
    changes = misread = 0
    for trial in range(1000):
        schedule = live_schedule(rng)
        changes += sum(a != b for a, b in zip(schedule, schedule[1:], strict=False))
        data, chunks = live(schedule, seed=trial)
        misread += not clean_read_is_exact(data, chunks)
    assert changes > 2000 and misread <= 3 * changes / 256 + 2, (misread, changes)


def test_compact_links_that_repeat_and_drop_packets() -> None:
    """200 live streams (12-bit tokens, rungs 1/2/4, 80 ms packets) through a link that
    repeats 5 % and drops 5 % of the packets. Every drop is reported; a packet is decoded
    wrong (a drop or a duplicate misread as the expected packet: 2^-8 an event, the
    documented cost of one check byte) rarely; packets lost beyond the dropped ones (the
    chain that re-confirms the lock) stay under 2 %."""
    rng = np.random.default_rng(7)
    extra = wrong = events = trials = 0
    while trials < 200:
        data, chunks = live(live_schedule(rng), seed=trials)
        if not clean_read_is_exact(data, chunks):  # the 2^-8 of a rung change, tested above
            continue
        trials += 1
        head, body, end = split(data)
        sent, dropped = [], set()
        for k, packet in enumerate(body):
            if 0 < k < len(body) - 1 and rng.random() < 0.05:
                dropped.add(k)
                continue
            repeat = rng.random() < 0.05
            sent += [packet] * (2 if repeat else 1)
            events += repeat
        events += len(dropped)
        toks, lost, _ = FcsReader(io.BytesIO(head + b"".join(sent) + end)).read_all()
        trial_wrong = 0
        for k, chunk in enumerate(chunks):
            got = toks[0, 4 * k : 4 * k + 4]
            if (got == LOST_TOKEN).all():
                extra += k not in dropped
            elif k in dropped or not np.array_equal(got[:, : chunk.shape[2]], chunk[0]):
                trial_wrong += 1
        wrong += trial_wrong
        if not trial_wrong:  # read right: the end marker is found and every drop reported
            assert not any(d.kind == "truncated" for d in lost), (trials, lost)
            assert sum(d.token_count for d in lost) >= 4 * len(dropped), (trials, lost)
    assert events > 600
    assert wrong <= 4 * events / 256 + 2, (wrong, events)
    assert extra <= 0.02 * 200 * 40, extra


def test_summary_gives_the_rungs_and_the_payload_they_carried() -> None:
    from focalcli.container import summarize

    data, _ = live([1] * 10 + [4] * 5 + [2] * 5)
    summary = summarize(io.BytesIO(data))
    assert summary.rungs == [1, 2, 4]
    assert dict(summary.rung_frames) == {1: 40, 2: 20, 4: 20}
    assert summary.payload_bytes == (40 * 1 + 20 * 2 + 20 * 4) * 12 / 8
    assert 0 < summary.overhead_percent < 25 + 100 * summary.header_bytes / summary.payload_bytes


def test_compact_framing_is_for_small_packets() -> None:
    with pytest.raises(FcsValueError, match="compact framing takes packets of at most 1024"):
        ladder_header("compact", packet_tokens=200)  # 4 x 200 x 12 bits = 1200 bytes
    assert ladder_header("sync", packet_tokens=200).framing == "sync"  # type: ignore[attr-defined]


def test_compact_duplicate_after_garbage_is_still_a_duplicate() -> None:
    data, _ = live([1] * 8)
    head, body, end = split(data)
    # more junk than 254 packets of 7 bytes could hold (so not a wrap of sequence numbers),
    # less than 256 (so no wrap of lost packets either)
    junk = bytes(np.random.default_rng(9).integers(0, 256, 1785, dtype=np.uint8))
    got = head + b"".join(body[:5]) + junk + body[3] + b"".join(body[5:]) + end
    kinds = [d.kind for d in damages(got)]
    assert "duplicate" in kinds and not any(d.loses_tokens for d in damages(got)), damages(got)
    assert len(packets(got)) == len(packets(data))
