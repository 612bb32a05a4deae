"""Incremental .fcs reader that survives truncation, corruption and dropped packets.

The reader pulls only the bytes it needs from a (possibly non-seekable) stream, yields packets in
order and, where bytes are unreadable or packets missing, :class:`Damage` records saying which
token range was lost, so a decoder can conceal it; skipped junk and dropped duplicate packets
are damage records too (that lose no tokens). On any garbage it either raises
:class:`FcsFormatError` (header) or reports damage (payload); it never raises anything else and
always makes progress. The resynchronisation rules are specified in docs/fcs-format.md;
compact framing (version 3, live links) has no sync word, and its lock-on rules are there too
(2.7).
"""

from __future__ import annotations

import binascii
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from . import bitpack
from .byteinput import ByteInput
from .fcs import (
    COMPACT_CHECK_BYTES,
    CRC_BYTES,
    DATA_SYNC,
    END_SYNC,
    PACKET_PREFIX_BYTES,
    SEQ_MODULUS,
    FcsHeader,
    crc16,
    data_packet_bytes,
    decode_optional_count,
    parse_header,
    payload_bytes,
    read_varint,
    samples_in_tokens,
    tokens_for_samples,
    truncated_tail_tokens,
)
from .lengths import LOST_TOKEN

#: Value :meth:`FcsReader.read_all` puts at lost token positions (:data:`.lengths.LOST_TOKEN`).
FILL_TOKEN = LOST_TOKEN

DamageKind = Literal["corrupt", "gap", "truncated", "junk", "duplicate"]

#: A data packet whose sequence number is at most this many behind the expected one, found with
#: too few skipped bytes to account for a wrap, is a packet from the past (duplicated or
#: reordered): it is dropped instead of being read as a jump of 256 - n packets.
PAST_WINDOW = 16
#: Read size when counting the bytes after an end marker.
_DRAIN_CHUNK = 1 << 16
#: Compact framing: sequence numbers a packet found by scanning may jump ahead by (then 256
#: for every 256 rung-1 packets' worth of skipped bytes, as for sync framing).
COMPACT_FORWARD_WINDOW = 32
#: Compact framing: packets in a row (same rung) that must check before a packet found by
#: scanning is believed; the chain may also end at an intact end marker or the final end.
COMPACT_CHAIN = 3


@dataclass
class Damage:
    """Tokens lost from the stream, per channel, in token positions from the stream start.

    Attributes:
        token_start: position of the first lost token.
        token_count: lost tokens per channel. For ``'truncated'`` the extent is unknown and this
            is 0: everything from ``token_start`` on is missing.
        kind: ``'corrupt'`` bytes were there but unreadable (bad CRC, garbage);
            ``'gap'`` whole packets are absent (sequence jump with no bytes in between);
            ``'truncated'`` the input ended before the end marker;
            ``'junk'`` bytes that are no packet were skipped, but no token was lost
            (``token_count`` 0);
            ``'duplicate'`` an intact data packet that repeats one already passed (or comes
            from the past) was dropped; no token was lost (``token_count`` 0).
        skipped_bytes: bytes skipped (``'junk'``, ``'corrupt'``) or dropped (``'duplicate'``).
    """

    token_start: int
    token_count: int
    kind: DamageKind
    skipped_bytes: int = field(default=0, compare=False)

    @property
    def loses_tokens(self) -> bool:
        """True for damage that loses audio: corrupt, gap, truncated."""
        return self.kind in ("corrupt", "gap", "truncated")


@dataclass
class Packet:
    """Tokens of one intact packet.

    Attributes:
        seq: sequence number as stored (mod 256); implied by the check byte in compact
            framing.
        token_start: position of its first token per channel, from the stream start.
        toks: int64 array of shape (channels, n); for a ladder stream (``header.groups`` >
            1) (channels, n, groups), :data:`LOST_TOKEN` in the groups this packet did not
            carry.
        groups: tokens per frame this packet carried (its rung; 1 before version 3).
    """

    seq: int
    token_start: int
    toks: npt.NDArray[np.int64]
    groups: int = 1


@dataclass
class ReaderStats:
    """Running counts of what the reader met so far.

    Attributes:
        packets_ok: intact packets (data and end marker).
        packets_corrupt: data packets lost where bytes were present but unreadable.
        packets_missing: data packets lost to sequence gaps.
        packets_duplicate: intact data packets dropped as duplicates or from the past.
        bytes_read: bytes consumed, header included.
        bytes_skipped: bytes discarded while resynchronising.
    """

    packets_ok: int = 0
    packets_corrupt: int = 0
    packets_missing: int = 0
    packets_duplicate: int = 0
    bytes_read: int = 0
    bytes_skipped: int = 0


@dataclass
class _Parsed:
    seq: int
    toks: npt.NDArray[np.int64]
    size: int  # bytes, framing included
    total_tokens: int | None = None  # set for the end marker only
    num_samples: int | None = None
    groups: int = 1
    duplicate: bool = False  # compact framing: an exact copy of a recent packet


class FcsReader:
    """Reads an .fcs stream incrementally.

    The header is read and validated at construction. Iterate :meth:`packets` (or the reader) to
    get :class:`Packet` and :class:`Damage` items as the bytes arrive, or call :meth:`read_all`.
    Iteration is single-pass: it resumes where it stopped and ends after the end marker (bytes
    after it are not read) or at end of input. Streams written one after the other (``cat a.fcs
    b.fcs``) are chained: :meth:`next_stream` reads the header of the next one.

    Args:
        stream: binary stream; only ``read(n)`` is used; short reads are fine.
        follow: seconds to wait for more bytes at end of input before treating it as final, to
            read a file that is still being written. 0: end of input is final.

    Raises:
        FcsFormatError: at construction, when the header is missing, unsupported or corrupt.

    Attributes:
        header: the validated header.
        header_bytes: its size in bytes.
        data_packet_bytes: size of a full data packet, framing included.
        end_seen: True once the end marker has been read.
        total_tokens: tokens per channel from the end marker, None before it.
        stats: running :class:`ReaderStats`.
    """

    def __init__(self, stream: BinaryIO, follow: float = 0.0,
                 _inp: ByteInput | None = None) -> None:
        self._inp = _inp if _inp is not None else ByteInput(stream, follow)
        self._start = self._inp.offset
        self.header: FcsHeader
        self.header, self.header_bytes = parse_header(self._inp)
        self.data_packet_bytes = data_packet_bytes(self.header)
        self.end_seen = False
        self.total_tokens: int | None = None
        self.stats = ReaderStats(bytes_read=self.header_bytes)
        self._end_num_samples: int | None = None
        self._next_seq = 0
        self._next_token = 0  # always a multiple of packet_tokens until the end marker
        self._skipped = 0  # bytes skipped since the last intact packet
        self._done = False  # end marker read or input ended
        self._ready: deque[Packet | Damage] = deque()  # parsed, not yet yielded
        self._compact = self.header.framing == "compact"
        self._rung = 0  # compact: rung of the last intact packet (0: none yet)
        self._rungs = range(1, self.header.groups + 1)
        self._seqs_by_check = self._check_table() if self._compact else {}
        self._payload_sizes = {g: payload_bytes(self.header, g) for g in self._rungs}
        self._seqs_memo: dict[tuple[int, int], list[int]] = {}
        # compact: the raw bytes of the last packets read, and their (seq, rung): an exact
        # copy of one is a duplicate
        self._recent: deque[bytes] = deque(maxlen=PAST_WINDOW)
        self._recent_ids: dict[bytes, tuple[int, int]] = {}

    @property
    def stated_num_samples(self) -> int | None:
        """Samples per channel at the source rate as the stream states them: the end marker's
        count if it has one, else the header's (None if neither knows). Not checked against
        the tokens: see :attr:`num_samples`."""
        if self._end_num_samples is not None:
            return self._end_num_samples
        return self.header.num_samples

    @property
    def num_samples(self) -> int | None:
        """Samples per channel at the source rate that the stream can justify.

        Once the stream has been read (end marker or end of input): the stated count
        (:attr:`stated_num_samples`) bounded by the tokens the stream holds, after the end
        marker by its total (one token of rounding), after a cut-off end by the tokens read
        plus :func:`~focalcli.container.fcs.truncated_tail_tokens`. While reading: the stated
        count (a cap on what is written, never allocated). A decoder never makes more audio
        than this from a crafted header.
        """
        stated = self.stated_num_samples
        if stated is None or not self._done:
            return stated
        return min(stated, samples_in_tokens(self.header, self.tokens_justified))

    @property
    def tokens_justified(self) -> int:
        """Tokens per channel the stream accounts for: its total after the end marker (plus one
        token of rounding), else the tokens read so far plus the tail a cut-off stream may
        have lost."""
        if self.total_tokens is not None:
            return self.total_tokens + 1
        return self._next_token + truncated_tail_tokens(self.header)

    def next_stream(self) -> FcsReader | None:
        """The reader of the stream chained after this one (``cat a.fcs b.fcs``), or None.

        Call after iterating to the end. None when this stream has no end marker or the input
        ends right after it.

        Raises:
            FcsFormatError: bytes follow the end marker but are not a readable .fcs header
                (:meth:`skip_rest` then counts them).
        """
        if not self.end_seen or not self._inp.fill(1):
            return None
        return FcsReader(io.BytesIO(), _inp=self._inp)  # reads on through the same buffer

    def skip_rest(self) -> int:
        """Read and drop everything left in the input; returns how many bytes that was."""
        inp = self._inp
        count = 0
        while True:
            count += len(inp.buf)
            inp.consume(len(inp.buf))
            if not inp.fill(_DRAIN_CHUNK) and not inp.buf:
                return count

    def __iter__(self) -> Iterator[Packet | Damage]:
        return self.packets()

    def packets(self) -> Iterator[Packet | Damage]:
        """Yield packets and damage records in stream order until the end marker or input end."""
        while True:
            while self._ready:
                yield self._ready.popleft()
            if self._done:
                return
            parsed = self._parse_at_start()
            if parsed is not None:
                self._accept(parsed)
            elif not self._skip_to_sync():
                self._done = True
                self.stats.bytes_read = self._inp.offset - self._start
                self._ready.append(Damage(self._next_token, 0, "truncated",
                                          skipped_bytes=self._skipped))

    def read_all(self) -> tuple[npt.NDArray[np.int64], list[Damage], int | None]:
        """Read the rest of the stream (all of it unless :meth:`packets` was iterated before).

        Returns:
            toks: int64 array (channels, total tokens per channel), :data:`FILL_TOKEN` (-1) where
                tokens were lost; after truncation it ends where the intact data ends. After a
                partial iteration it starts at the first token not yet yielded. A ladder
                stream gives (channels, tokens, groups), FILL_TOKEN in groups not sent.
            damages: lost ranges in order, positions counted from the stream start.
            num_samples: samples per channel at ``source_sample_rate`` (end marker, else header;
                None if neither knows).
        """
        start = self._ready[0].token_start if self._ready else self._next_token
        items = list(self.packets())
        shape: tuple[int, ...] = (self.header.channels, self._next_token - start)
        if self.header.groups > 1:
            shape += (self.header.groups,)
        toks = np.full(shape, FILL_TOKEN, dtype=np.int64)
        damages = []
        for item in items:
            if isinstance(item, Damage):
                damages.append(item)
            else:
                pos = item.token_start - start
                toks[:, pos : pos + item.toks.shape[1]] = item.toks
        return toks, damages, self.num_samples

    def _parse_at_start(self) -> _Parsed | None:
        """Parse an intact packet at the start of the buffer, or None (bad, or input ended)."""
        inp = self._inp
        if self._compact:
            if inp.fill(PACKET_PREFIX_BYTES) and bytes(inp.buf[:2]) == END_SYNC:
                parsed = self._parse_end()
                if parsed is not None:
                    return parsed
            return self._parse_compact()
        if not inp.fill(PACKET_PREFIX_BYTES):
            return None
        sync = bytes(inp.buf[:2])
        if sync == DATA_SYNC:
            return self._parse_data()
        if sync == END_SYNC:
            return self._parse_end()
        return None

    def _parse_data(self) -> _Parsed | None:
        h = self.header
        groups, start = 1, PACKET_PREFIX_BYTES
        if h.version >= 3:
            if not self._inp.fill(start + 1):
                return None
            groups, start = self._inp.buf[start], start + 1
            if groups not in self._rungs:
                return None
        size = data_packet_bytes(h, groups)
        raw = self._checked(size)
        if raw is None:
            return None
        return _Parsed(seq=raw[2], toks=self._unpack(raw[start:], h.packet_tokens, groups),
                       size=size, groups=groups)

    def _unpack(self, payload: bytes, frames: int, groups: int) -> npt.NDArray[np.int64]:
        """Packed tokens of `frames` frames at rung `groups` -> (channels, frames) or, for a
        ladder stream, (channels, frames, header.groups) with LOST_TOKEN in unsent groups."""
        h = self.header
        toks = bitpack.unpack(payload, h.bits_per_token, h.channels * frames * groups)
        if h.groups == 1:
            return toks.reshape(h.channels, frames)
        out = np.full((h.channels, frames, h.groups), LOST_TOKEN, dtype=np.int64)
        out[:, :, :groups] = toks.reshape(h.channels, frames, groups)
        return out

    # -- compact framing (docs/fcs-format.md, 2.7) ------------------------------------------
    def _check_table(self) -> dict[tuple[int, int], list[int]]:
        """{(rung, c): sequence numbers whose check byte is c for an all-zero payload}.

        The CRC is linear: ``check(seq, g, payload) = zero_check(seq, g) ^ low byte of
        crc_hqx(payload, 0)``, so one CRC of the payload finds every (seq, g) it fits.
        """
        table: dict[tuple[int, int], list[int]] = {}
        for g in self._rungs:
            zeros = bytes(payload_bytes(self.header, g))
            # crc_hqx(zeros, init) is linear in init: 16 runs over the zeros, not 256
            basis = [binascii.crc_hqx(zeros, 1 << bit) for bit in range(16)]
            for seq in range(SEQ_MODULUS):
                init = binascii.crc_hqx(bytes((seq, g)), 0xFFFF)
                crc = 0
                for bit in range(16):
                    if init >> bit & 1:
                        crc ^= basis[bit]
                table.setdefault((g, crc & 0xFF), []).append(seq)
        return table

    def _compact_seqs(self, at: int, groups: int) -> list[int] | None:
        """Sequence numbers for which a rung-`groups` compact packet at ``buf[at]`` checks;
        None when the input ends first."""
        key = (self._inp.offset + at, groups)
        if key in self._seqs_memo:  # chains tried from nearby offsets ask again
            return self._seqs_memo[key]
        size = self._payload_sizes[groups]
        if not self._inp.fill(at + size + COMPACT_CHECK_BYTES):
            return None
        buf = self._inp.buf
        crc = binascii.crc_hqx(buf[at : at + size], 0) & 0xFF
        seqs = self._seqs_by_check.get((groups, crc ^ buf[at + size]), [])
        if len(self._seqs_memo) > 4096:
            self._seqs_memo.clear()
        self._seqs_memo[key] = seqs
        return seqs

    def _chain(self, at: int, seq: int, groups: int, count: int, same_rung: bool,
               before: bytes = b"") -> bool:
        """True when `count` packets in a row check from ``buf[at]`` on, the first with
        (`seq`, `groups`), each next one numbered one more (with the same rung if
        `same_rung`); an intact end marker or the final end of input also ends a chain.
        Exact copies of the packet before (`before`: its bytes), duplicates, may sit in it
        without counting."""
        seqs = self._compact_seqs(at, groups)
        if seqs is None or seq not in seqs:
            return False
        if count == 1:
            return True
        size = payload_bytes(self.header, groups) + COMPACT_CHECK_BYTES
        this = bytes(self._inp.buf[at : at + size])
        nxt = at + size
        while True:
            if not self._inp.fill(nxt + 1):
                return True  # the stream ends right after it
            if self._end_follows(nxt, (seq + 1) % SEQ_MODULUS):
                return True
            if not self._copy_at(nxt, (this, before)):
                break
            nxt += len(this) if self._inp.buf[nxt : nxt + len(this)] == this else len(before)
        rungs = (groups,) if same_rung else self._rungs
        return any(self._chain(nxt, (seq + 1) % SEQ_MODULUS, g, count - 1, same_rung, this)
                   for g in rungs)

    def _end_follows(self, at: int, seq: int) -> bool:
        """True when an end marker with a matching CRC and sequence number `seq` (the data
        packets before it) starts at ``buf[at]``."""
        if bytes(self._inp.buf[at : at + 2]) != END_SYNC:
            return False
        found = self._end_at(at)
        return found is not None and found[0] == seq

    def _copy_at(self, at: int, packets: tuple[bytes, ...] | deque[bytes]) -> bytes | None:
        """The first of `packets` (raw bytes) that ``buf[at:]`` repeats exactly, or None."""
        for raw in packets:
            if raw and self._inp.fill(at + len(raw)) and self._inp.buf[at : at + len(raw)] == raw:
                return raw
        return None

    def _parse_compact(self) -> _Parsed | None:
        """The compact packet at the start of the buffer, or None (see 2.7 of the spec).

        At a packet boundary (right after the header or an intact packet, nothing skipped
        since): the expected sequence number at the last packet's rung is believed at once;
        at another rung when the next packet checks too. An exact copy of one of the last
        :data:`PAST_WINDOW` packets is a duplicate. Otherwise a packet is believed only at
        the start of a chain of :data:`COMPACT_CHAIN` packets of one rung, or of one more
        packet of any rungs; its sequence number may be up to :data:`COMPACT_FORWARD_WINDOW`
        ahead of the expected one, plus any number when the skipped bytes could hold more
        packets.
        """
        expected = self._next_seq
        if self._skipped == 0:
            if self._rung:
                seqs = self._compact_seqs(0, self._rung)
                if seqs is not None and expected in seqs:
                    return self._compact_parsed(expected, self._rung)
            for g in self._rungs:
                if g != self._rung and self._chain(0, expected, g, 2, same_rung=False):
                    return self._compact_parsed(expected, g)
        copy = self._copy_at(0, self._recent)
        if copy is not None:
            seq, groups = self._recent_ids[copy]
            parsed = self._compact_parsed(seq, groups)
            parsed.duplicate = True
            return parsed
        wide = self._skipped >= COMPACT_FORWARD_WINDOW * self.data_packet_bytes
        for g in sorted(self._rungs, key=lambda r: r != self._rung):
            seqs = self._compact_seqs(0, g)
            if not seqs:
                continue
            ranked = sorted(seqs, key=lambda s: self._seq_rank(s, expected, wide))
            for seq in ranked:
                if self._seq_rank(seq, expected, wide) >= SEQ_MODULUS:
                    break
                if (self._chain(0, seq, g, COMPACT_CHAIN, same_rung=True)
                        or self._chain(0, seq, g, COMPACT_CHAIN + 1, same_rung=False)):
                    return self._compact_parsed(seq, g)
        return None

    @staticmethod
    def _seq_rank(seq: int, expected: int, wide: bool) -> int:
        """Order in which a scanned packet's sequence numbers are tried: the expected one,
        small jumps ahead, then (after many skipped bytes) any; SEQ_MODULUS (never) else."""
        ahead = (seq - expected) % SEQ_MODULUS
        behind = (expected - 1 - seq) % SEQ_MODULUS
        if ahead < COMPACT_FORWARD_WINDOW:
            return ahead
        return COMPACT_FORWARD_WINDOW + behind if wide else SEQ_MODULUS

    def _compact_parsed(self, seq: int, groups: int) -> _Parsed:
        size = payload_bytes(self.header, groups)
        payload = bytes(self._inp.buf[:size])
        raw = bytes(self._inp.buf[: size + COMPACT_CHECK_BYTES])
        if raw not in self._recent_ids:
            if len(self._recent) == self._recent.maxlen:
                del self._recent_ids[self._recent[0]]
            self._recent.append(raw)
            self._recent_ids[raw] = (seq, groups)
        return _Parsed(seq=seq, toks=self._unpack(payload, self.header.packet_tokens, groups),
                       size=size + COMPACT_CHECK_BYTES, groups=groups)

    def _end_at(self, at: int) -> tuple[int, int, int, int, int | None] | None:
        """An end marker at ``buf[at]`` whose CRC matches: (seq, groups, total, size,
        num_samples), or None. Its agreement with the stream is checked by the caller."""
        h = self.header
        groups, pos = 1, at + PACKET_PREFIX_BYTES
        try:
            if h.version >= 3:
                if not self._inp.fill(pos + 1):
                    return None
                groups, pos = self._inp.buf[pos], pos + 1
                if groups not in self._rungs:
                    return None
            got_total = read_varint(self._inp, pos)
            if got_total is None:
                return None
            total, pos = got_total
            got_samples = read_varint(self._inp, pos)
            if got_samples is None:
                return None
            samples_code, pos = got_samples
        except ValueError:  # malformed varint
            return None
        tail = total % h.packet_tokens
        end = pos + bitpack.packed_size(tail * h.channels * groups, h.bits_per_token)
        if not self._inp.fill(end + CRC_BYTES):
            return None
        raw = bytes(self._inp.buf[at:end + CRC_BYTES])
        if crc16(raw[:-CRC_BYTES]) != int.from_bytes(raw[-CRC_BYTES:], "big"):
            return None
        return raw[2], groups, total, pos - at, decode_optional_count(samples_code)

    def _parse_end(self) -> _Parsed | None:
        h = self.header
        found = self._end_at(0)
        if found is None:
            return None
        seq, groups, total, tail_at, num_samples = found
        tail = total % h.packet_tokens
        if not self._end_agrees(seq, total, num_samples):
            return None
        size = tail_at + bitpack.packed_size(tail * h.channels * groups, h.bits_per_token)
        toks = self._unpack(bytes(self._inp.buf[tail_at:size]), tail, groups)
        return _Parsed(seq=seq, toks=toks, size=size + CRC_BYTES, total_tokens=total,
                       num_samples=num_samples, groups=groups)

    def _end_agrees(self, seq: int, total: int, num_samples: int | None) -> bool:
        """An end marker is trusted only if it agrees with what came before: its sequence
        number counts the data packets, the data packets it implies were lost fit the
        evidence, and its sample count fits in its tokens (up to one token of rounding)."""
        h = self.header
        n_data = (total - total % h.packet_tokens) // h.packet_tokens
        lost = n_data - self._next_token // h.packet_tokens
        if seq != n_data % SEQ_MODULUS or not 0 <= lost <= self._max_lost(seq):
            return False
        return num_samples is None or tokens_for_samples(h, num_samples) <= total + 1

    def _checked(self, size: int) -> bytes | None:
        """The first ``size`` buffered bytes without their CRC if it matches, else None."""
        if not self._inp.fill(size):
            return None
        raw = bytes(self._inp.buf[:size])
        if crc16(raw[:-CRC_BYTES]) != int.from_bytes(raw[-CRC_BYTES:], "big"):
            return None
        return raw[:-CRC_BYTES]

    def _max_lost(self, seq: int) -> int:
        """Data packets lost before a packet numbered ``seq`` found after the skipped bytes.

        The sequence jump gives the count mod 256; the skipped bytes disambiguate the wrap:
        bytes corrupted in place take one data packet size each, so every full 256 packets'
        worth of skipped bytes adds 256 to the count.
        """
        jump = (seq - self._next_seq) % SEQ_MODULUS
        return jump + SEQ_MODULUS * (self._skipped // (SEQ_MODULUS * self.data_packet_bytes))

    def _from_the_past(self, parsed: _Parsed) -> bool:
        """True for an intact data packet that repeats or precedes packets already passed.

        Its sequence number is at most :data:`PAST_WINDOW` behind the expected one, and the
        bytes skipped since the last intact packet could not have held the 256 - n packets a
        forward wrap would need.
        """
        if parsed.total_tokens is not None or self._next_token == 0:
            return False
        behind = (self._next_seq - 1 - parsed.seq) % SEQ_MODULUS
        jump = (parsed.seq - self._next_seq) % SEQ_MODULUS
        return behind < PAST_WINDOW and self._skipped < jump * self.data_packet_bytes

    def _accept(self, parsed: _Parsed) -> None:
        """Consume an intact packet, update the state, queue damage (if any) and the packet."""
        h = self.header
        n_toks = parsed.toks.shape[1]
        if parsed.duplicate or self._from_the_past(parsed):
            self._inp.consume(parsed.size)
            self.stats.bytes_read = self._inp.offset - self._start
            self.stats.packets_duplicate += 1
            self._ready.append(Damage(self._next_token, 0, "duplicate", skipped_bytes=parsed.size))
            return
        if parsed.total_tokens is not None:
            lost_toks = parsed.total_tokens - n_toks - self._next_token
        else:
            lost_toks = self._max_lost(parsed.seq) * h.packet_tokens
        self._inp.consume(parsed.size)
        self.stats.bytes_read = self._inp.offset - self._start
        self.stats.packets_ok += 1
        self._rung = parsed.groups
        if lost_toks:
            kind: DamageKind = "corrupt" if self._skipped else "gap"
            if self._skipped:
                self.stats.packets_corrupt += lost_toks // h.packet_tokens
            else:
                self.stats.packets_missing += lost_toks // h.packet_tokens
            self._ready.append(Damage(self._next_token, lost_toks, kind,
                                      skipped_bytes=self._skipped))
            self._next_token += lost_toks
        elif self._skipped:
            self._ready.append(Damage(self._next_token, 0, "junk", skipped_bytes=self._skipped))
        if n_toks or parsed.total_tokens is None:
            self._ready.append(Packet(parsed.seq, self._next_token, parsed.toks,
                                      parsed.groups))
        self._skipped = 0
        self._next_seq = (parsed.seq + 1) % SEQ_MODULUS
        self._next_token += n_toks
        if parsed.total_tokens is not None:
            self.end_seen = True
            self._done = True
            self.total_tokens = parsed.total_tokens
            self._end_num_samples = parsed.num_samples

    def _skip_to_sync(self) -> bool:
        """Drop the failed candidate's first byte and all bytes up to the next sync pattern.

        Returns False when the input ends first (all remaining bytes are then dropped).
        """
        inp = self._inp
        self._drop(min(1, len(inp.buf)))
        if self._compact:  # no sync word: every offset is a candidate
            if inp.buf or inp.fill(1):
                return True
            return False
        while True:
            hits = [i for i in (inp.buf.find(DATA_SYNC), inp.buf.find(END_SYNC)) if i >= 0]
            if hits:
                self._drop(min(hits))
                return True
            keep = 1 if inp.buf[-1:] == DATA_SYNC[:1] else 0  # may start a sync split by a read
            self._drop(len(inp.buf) - keep)
            if inp.eof:
                self._drop(len(inp.buf))
                return False
            inp.fill(len(inp.buf) + self.data_packet_bytes)

    def _drop(self, n: int) -> None:
        self._inp.consume(n)
        self._skipped += n
        self.stats.bytes_skipped += n
        self.stats.bytes_read = self._inp.offset - self._start

