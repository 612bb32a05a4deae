"""Whole-stream inspection for ``focal info`` / verify: sizes, overhead and integrity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import BinaryIO

from .errors import FcsFormatError
from .fcs import FcsHeader
from .reader import Damage, FcsReader, Packet


@dataclass(frozen=True)
class FcsSummary:
    """What a full read of an .fcs stream (or of streams chained one after the other) found.

    Attributes:
        header: the (first) stream's header.
        header_bytes: its size in bytes.
        total_bytes: bytes read, headers, packets, skipped junk and bytes after the last end
            marker included.
        packets: intact packets (data packets and end markers) of all streams.
        tokens: tokens per channel of all streams, lost ones included (intact prefix only after
            truncation).
        damages: lost ranges and other damage in order; positions count from the start of the
            first stream (later streams follow on at the tokens before them).
        end_seen: whether the (last) stream's end marker was read.
        num_samples: samples per channel at the first header's ``source_sample_rate`` that the
            stream justifies (see :attr:`FcsReader.num_samples`), summed over chained streams;
            None if a stream does not know its length.
        stated_num_samples: the same as the streams state it (not checked against the tokens).
        streams: how many streams were chained (1 for a plain file).
        duration_s: seconds of audio: from the justified sample counts where known, else from
            the token counts.
        rung_frames: {g: frames per channel read in packets carrying g tokens per frame}
            (version 3 ladders have several; every other stream {1: frames read}).
    """

    header: FcsHeader
    header_bytes: int
    total_bytes: int
    packets: int
    tokens: int
    damages: tuple[Damage, ...]
    end_seen: bool
    num_samples: int | None
    stated_num_samples: int | None = None
    streams: int = 1
    duration_s: float = 0.0
    rung_frames: tuple[tuple[int, int], ...] = ()

    @property
    def rungs(self) -> list[int]:
        """Tokens per frame of the packets read, lowest first ([1] before version 3)."""
        return [g for g, frames in self.rung_frames if frames] or [1]

    @property
    def intact(self) -> bool:
        """True when every end marker was read and there is no damage of any kind."""
        return self.end_seen and not self.damages

    @property
    def lost_tokens(self) -> int:
        """Tokens per channel lost in corrupt or missing packets (a cut-off end not counted)."""
        return sum(d.token_count for d in self.damages)

    @property
    def skipped_bytes(self) -> int:
        """Bytes skipped or dropped: junk, unreadable packets, duplicates, trailing bytes."""
        return sum(d.skipped_bytes for d in self.damages)

    @property
    def payload_bytes(self) -> float:
        """Size of the tokens alone at exactly ``bits_per_token`` bits each, in bytes: every
        frame at the rung its packet carried (lost frames at the lowest rung read)."""
        h = self.header
        read = sum(frames for _, frames in self.rung_frames)
        sent = sum(g * frames for g, frames in self.rung_frames)
        sent += (self.tokens - read) * self.rungs[0]
        return sent * h.channels * h.bits_per_token / 8

    @property
    def overhead_bytes(self) -> float:
        """Everything but the token bits: header, framing, end marker, padding."""
        return self.total_bytes - self.payload_bytes

    @property
    def overhead_percent(self) -> float:
        """Overhead as a percentage of the payload (inf for an empty stream)."""
        payload = self.payload_bytes
        return 100.0 * self.overhead_bytes / payload if payload else float("inf")

    @property
    def bitrate_bps(self) -> float:
        """Bits per second of the whole stream, overhead included (0 for an empty stream)."""
        duration = self.tokens / self.header.token_rate
        return 8 * self.total_bytes / duration if duration else 0.0


def _duration_s(reader: FcsReader, tokens: int) -> float:
    n = reader.num_samples
    if n is not None:
        return n / reader.header.source_sample_rate
    return tokens / reader.header.token_rate


def summarize(stream: BinaryIO, follow: float = 0.0) -> FcsSummary:
    """Read a whole .fcs input without keeping its tokens and summarise it.

    Streams chained after the first (``cat a.fcs b.fcs``) are read too; bytes after the last
    end marker that are no .fcs header are a ``'junk'`` damage record.

    Raises:
        FcsFormatError: the (first) header is missing, unsupported or corrupt.
    """
    first = reader = FcsReader(stream, follow=follow)
    damages: list[Damage] = []
    offset = tokens = packets = total_bytes = streams = 0
    duration = 0.0
    justified: int | None = 0
    stated: int | None = 0
    rung_frames: dict[int, int] = {}
    while True:
        streams += 1
        link_tokens = 0
        for item in reader.packets():
            if isinstance(item, Packet):
                link_tokens = item.token_start + item.toks.shape[1]
                rung_frames[item.groups] = rung_frames.get(item.groups, 0) + item.toks.shape[1]
            else:
                damages.append(replace(item, token_start=item.token_start + offset))
                link_tokens = item.token_start + item.token_count
        packets += reader.stats.packets_ok
        total_bytes += reader.stats.bytes_read
        duration += _duration_s(reader, link_tokens)
        justified = _add(justified, _rescale(reader.num_samples, reader.header, first.header))
        stated = _add(stated, _rescale(reader.stated_num_samples, reader.header, first.header))
        offset += link_tokens
        tokens += link_tokens
        try:
            following = reader.next_stream()
        except FcsFormatError:
            junk = reader.skip_rest()
            total_bytes += junk
            damages.append(Damage(offset, 0, "junk", skipped_bytes=junk))
            break
        if following is None:
            break
        reader = following
    return FcsSummary(
        header=first.header,
        header_bytes=first.header_bytes,
        total_bytes=total_bytes,
        packets=packets,
        tokens=tokens,
        damages=tuple(damages),
        end_seen=reader.end_seen,
        num_samples=justified,
        stated_num_samples=stated,
        streams=streams,
        duration_s=duration,
        rung_frames=tuple(sorted(rung_frames.items())),
    )


def _rescale(n: int | None, header: FcsHeader, first: FcsHeader) -> int | None:
    if n is None or header.source_sample_rate == first.source_sample_rate:
        return n
    return n * first.source_sample_rate // header.source_sample_rate


def _add(total: int | None, n: int | None) -> int | None:
    return None if total is None or n is None else total + n
