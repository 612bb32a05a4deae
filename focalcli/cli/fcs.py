"""The CLI's use of the .fcs container: headers for codecs, reading files, `focal info` fields.

Bytes only (the container never imports torch); container errors become one-line
:class:`~focalcli.cli.errors.StreamInvalid` (exit 5) or input errors (exit 3) here.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np

from focalcli.audio.convert import scaled_length
from focalcli.cli.errors import InputProblem, StreamInvalid, describe_os_error
from focalcli.container import (
    VERSION,
    Damage,
    FcsError,
    FcsHeader,
    FcsReader,
    FcsSummary,
    FcsWriter,
    summarize,
)


def new_writer(out: BinaryIO, codec: Any, *, source_rate: int, channels: int,
               source_frames: int | None, packet_tokens: int | None, live: bool) -> FcsWriter:
    """An FcsWriter for tokens of `codec` from audio at `source_rate` Hz.

    `source_frames`: the source length (samples per channel at `source_rate`) if known up
    front (then the header carries it, so a truncated file still knows its duration); `live`
    flushes every packet (pipes).
    """
    kwargs: dict[str, Any] = {}
    if packet_tokens is not None:
        kwargs["packet_tokens"] = packet_tokens
    header = FcsHeader(
        model_name=codec.name, model_hash=codec.weights_hash,
        bits_per_token=codec.bits_per_token, token_rate=codec.token_rate,
        sample_rate_input=codec.sample_rate_input, sample_rate_output=codec.sample_rate_output,
        channels=channels, source_sample_rate=source_rate, num_samples=source_frames,
        metadata={}, **kwargs)
    return FcsWriter(out, header, flush_each_packet=live)


@contextmanager
def open_fcs(src: str | BinaryIO, name: str) -> Iterator[BinaryIO]:
    """A binary stream over a .fcs path (or the given stream); InputProblem if unreadable."""
    if not isinstance(src, str):
        yield src
        return
    try:
        if os.path.isdir(src):
            raise InputProblem("is a directory", name)
        fh = open(src, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputProblem("no such file", name) from None
    except OSError as err:
        raise InputProblem(describe_os_error(err), name) from None
    with fh:
        yield fh


def _invalid(err: FcsError, name: str) -> StreamInvalid:
    return StreamInvalid(str(err), name)


class TokenStream:
    """An .fcs being read packet by packet: its header, then blocks of tokens as they arrive.

    Lost tokens come out as -1 (the engine conceals them); a truncated end is filled with -1
    up to the known length, so decoding conceals it instead of cutting the audio short.
    `damages` and `num_samples` are complete once `blocks()` is exhausted.
    """

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.name = name
        try:
            self._reader = FcsReader(stream)
        except FcsError as err:
            raise _invalid(err, name) from None
        except OSError as err:
            raise InputProblem(describe_os_error(err), name) from None
        self.header: FcsHeader = self._reader.header
        self.damages: list[Damage] = []

    @property
    def model_name(self) -> str:
        return self.header.model_name

    @property
    def weights_hash(self) -> str:
        return self.header.model_hash

    @property
    def channels(self) -> int:
        return self.header.channels

    @property
    def source_samples(self) -> int | None:
        """Samples per channel of the original audio at the source rate (header or end marker)."""
        return self._reader.num_samples

    @property
    def num_samples(self) -> int | None:
        """Samples per channel at the model's input rate."""
        return source_to_input_samples(self.header, self.source_samples)

    def duration_s(self) -> float | None:
        n = self.num_samples
        return None if n is None else n / self.header.sample_rate_input

    def output_length(self, rate: int) -> int | None:
        """Samples per channel of the decoded audio at `rate` Hz (None: not known yet).

        At the source rate this is the original sample count exactly.
        """
        source = self.source_samples
        if source is None:
            return None
        return scaled_length(source, self.header.source_sample_rate, rate)

    def blocks(self, chunk_tokens: int = 1) -> Iterator[np.ndarray]:
        """int64 (channels, k) blocks in stream order, -1 where tokens were lost; at the end,
        -1 up to the known length rounded up to whole `chunk_tokens`."""
        h = self.header
        produced = 0
        try:
            for item in self._reader.packets():
                if isinstance(item, Damage):
                    self.damages.append(item)
                    toks = np.full((h.channels, item.token_count), -1, dtype=np.int64)
                else:
                    toks = item.toks
                produced += toks.shape[1]
                if toks.shape[1]:
                    yield toks
        except OSError as err:
            raise InputProblem(describe_os_error(err), self.name) from None
        if self.num_samples is not None:
            needed = math.ceil(self.num_samples * h.token_rate / h.sample_rate_input)
            needed = -(-needed // chunk_tokens) * chunk_tokens
            if produced < needed:
                yield np.full((h.channels, needed - produced), -1, dtype=np.int64)

    def describe_damage(self) -> str:
        return describe_damage(self.damages, self.header, self.source_samples)


def source_to_input_samples(header: FcsHeader, source_samples: int | None) -> int | None:
    """The header's sample count (at the source rate) converted to the model's input rate."""
    if source_samples is None:
        return None
    return scaled_length(source_samples, header.source_sample_rate, header.sample_rate_input)


def describe_damage(damages: list[Damage] | tuple[Damage, ...], header: FcsHeader,
                    num_samples: int | None) -> str:
    """One line: how much was lost and where, in seconds."""
    rate = header.token_rate
    parts = []
    lost = [d for d in damages if d.kind != "truncated"]
    if lost:
        seconds = sum(d.token_count for d in lost) / rate
        first = lost[0].token_start / rate
        parts.append(f"{len(lost)} lost range{'s' if len(lost) > 1 else ''} "
                     f"({seconds:.2f} s from {first:.2f} s)")
    for d in damages:
        if d.kind == "truncated":
            total = (f" of {num_samples / header.source_sample_rate:.2f} s"
                     if num_samples is not None else "")
            parts.append(f"truncated at {d.token_start / rate:.2f} s{total}")
    return ", ".join(parts) or "damaged"


#: fields of `focal info --json` / `--field`, in display order
INFO_FIELDS: tuple[str, ...] = (
    "file", "format_version", "model", "model_hash", "channels", "duration",
    "num_samples", "sample_rate_input", "sample_rate_output", "source_sample_rate",
    "source_samples", "token_rate", "bits_per_token", "payload_bitrate", "bitrate",
    "packet_tokens", "packet_ms", "packets", "tokens", "bytes", "header_bytes",
    "overhead_bytes", "overhead_percent", "integrity", "damaged", "lost_seconds",
    "complete", "metadata", "verified",
)


def summarize_file(src: str | BinaryIO, name: str) -> tuple[dict[str, Any], bytes]:
    """The `focal info` fields of one .fcs, and its bytes (for --verify)."""
    with open_fcs(src, name) as fh:
        try:
            data = fh.read()
        except OSError as err:
            raise InputProblem(describe_os_error(err), name) from None
    try:
        summary = summarize(io.BytesIO(data))
    except FcsError as err:
        raise _invalid(err, name) from None
    return info_fields(summary, name), data


def info_fields(s: FcsSummary, name: str) -> dict[str, Any]:
    h = s.header
    lost = sum(d.token_count for d in s.damages) / h.token_rate
    damaged = not s.intact
    integrity = "ok" if not damaged else describe_damage(s.damages, h, s.num_samples)
    input_samples = source_to_input_samples(h, s.num_samples)
    if not s.end_seen and not s.damages:
        integrity = "truncated (no end marker)"
    payload_bps = h.token_rate * h.bits_per_token * h.channels
    return {
        "file": name,
        "format_version": VERSION,
        "model": h.model_name,
        "model_hash": h.model_hash,
        "channels": h.channels,
        "duration": round(s.duration_s, 6),
        "num_samples": input_samples,
        "sample_rate_input": h.sample_rate_input,
        "sample_rate_output": h.sample_rate_output,
        "source_sample_rate": h.source_sample_rate,
        "source_samples": s.num_samples,
        "token_rate": h.token_rate,
        "bits_per_token": h.bits_per_token,
        "payload_bitrate": payload_bps,
        "bitrate": round(s.bitrate_bps, 3),
        "packet_tokens": h.packet_tokens,
        "packet_ms": round(1000 * h.packet_tokens / h.token_rate, 3),
        "packets": s.packets,
        "tokens": s.tokens,
        "bytes": s.total_bytes,
        "header_bytes": s.header_bytes,
        "overhead_bytes": round(s.overhead_bytes, 3),
        "overhead_percent": (round(s.overhead_percent, 3)
                             if math.isfinite(s.overhead_percent) else None),
        "integrity": integrity,
        "damaged": damaged,
        "lost_seconds": round(lost, 6),
        "complete": s.end_seen,
        "metadata": dict(h.metadata),
        "verified": None,
    }


def format_summary(r: dict[str, Any]) -> str:
    """The human summary of one file (several lines, like opusinfo)."""
    overhead = (f"{r['overhead_bytes']:.0f} bytes ({r['overhead_percent']:.1f} % of payload)"
                if r["overhead_percent"] is not None else f"{r['overhead_bytes']:.0f} bytes")
    source = f"{r['source_sample_rate']} Hz"
    if r["source_samples"] is not None:
        source += f", {r['source_samples']} samples"
    lines = [
        f"{r['file']}:",
        f"  model       {r['model']} (weights {r['model_hash']})",
        f"  duration    {r['duration']:.3f} s, {r['channels']} channel(s)",
        f"  bitrate     {r['bitrate'] / 1000:.3f} kbit/s in total, payload "
        f"{r['payload_bitrate'] / 1000:.3f} kbit/s ({r['bits_per_token']} bits x "
        f"{r['token_rate']:g} tokens/s)",
        f"  rates       in {r['sample_rate_input']} Hz, out {r['sample_rate_output']} Hz, "
        f"source {source}",
        f"  packets     {r['packets']} ({r['packet_tokens']} tokens = {r['packet_ms']:g} ms "
        f"each), {r['tokens']} tokens, {r['bytes']} bytes",
        f"  overhead    {overhead}",
        f"  integrity   {r['integrity']}",
    ]
    if r["verified"] is not None:
        lines.append(f"  verified    {'yes (decoded and checked)' if r['verified'] else 'no'}")
    return "\n".join(lines)
