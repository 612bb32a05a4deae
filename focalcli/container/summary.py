"""Whole-stream inspection for ``focal info`` / verify: sizes, overhead and integrity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .fcs import FcsHeader
from .reader import Damage, FcsReader, Packet


@dataclass(frozen=True)
class FcsSummary:
    """What a full read of an .fcs stream found.

    Attributes:
        header: the stream header.
        header_bytes: header size in bytes.
        total_bytes: bytes read, header, packets and skipped garbage included.
        packets: intact packets (data packets and end marker).
        tokens: tokens per channel, lost ones included (intact prefix only after truncation).
        damages: lost ranges in order.
        end_seen: whether the end marker was read.
        num_samples: samples per channel at ``source_sample_rate``, None if unknown.
    """

    header: FcsHeader
    header_bytes: int
    total_bytes: int
    packets: int
    tokens: int
    damages: tuple[Damage, ...]
    end_seen: bool
    num_samples: int | None

    @property
    def intact(self) -> bool:
        """True when the end marker was read and nothing was lost."""
        return self.end_seen and not self.damages

    @property
    def payload_bytes(self) -> float:
        """Size of the tokens alone at exactly ``bits_per_token`` bits each, in bytes."""
        h = self.header
        return self.tokens * h.channels * h.bits_per_token / 8

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
    def duration_s(self) -> float:
        """Seconds of audio: from ``num_samples`` when known, else from the token count."""
        if self.num_samples is not None:
            return self.num_samples / self.header.source_sample_rate
        return self.tokens / self.header.token_rate

    @property
    def bitrate_bps(self) -> float:
        """Bits per second of the whole stream, overhead included (0 for an empty stream)."""
        duration = self.tokens / self.header.token_rate
        return 8 * self.total_bytes / duration if duration else 0.0


def summarize(stream: BinaryIO, follow: float = 0.0) -> FcsSummary:
    """Read a whole .fcs stream without keeping its tokens and summarise it.

    Raises:
        FcsFormatError: the header is missing, unsupported or corrupt.
    """
    reader = FcsReader(stream, follow=follow)
    damages = []
    tokens = 0
    for item in reader.packets():
        if isinstance(item, Packet):
            tokens = item.token_start + item.toks.shape[1]
        else:
            damages.append(item)
            tokens = item.token_start + item.token_count
    return FcsSummary(
        header=reader.header,
        header_bytes=reader.header_bytes,
        total_bytes=reader.stats.bytes_read,
        packets=reader.stats.packets_ok,
        tokens=tokens,
        damages=tuple(damages),
        end_seen=reader.end_seen,
        num_samples=reader.num_samples,
    )
