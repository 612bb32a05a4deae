"""The .fcs side of the join: a writer for a codec's tokens, and a reader of token blocks.

Opening a .fcs (a path or a stream) and turning container errors into one-line
:class:`~focalcli.errors.StreamInvalid` (exit 5) or :class:`~focalcli.errors.InputProblem`
(exit 3) happens here and nowhere else; so does the fill rule (lost and missing tokens come
out as :data:`~focalcli.container.LOST_TOKEN`). Bytes only: no torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction
from typing import Any, BinaryIO

import numpy as np

from focalcli.container import (
    Damage,
    FcsError,
    FcsHeader,
    FcsReader,
    FcsWriter,
)
from focalcli.container.lengths import LOST_TOKEN, output_length, resampled_length
from focalcli.errors import InputProblem, StreamInvalid, describe_os_error


def new_writer(out: BinaryIO, codec: Any, *, source_rate: int, channels: int,
               source_frames: int | None, packet_tokens: int | None, live: bool,
               framing: str = "sync") -> FcsWriter:
    """An FcsWriter for tokens of `codec` from audio at `source_rate` Hz.

    `source_frames`: the source length (samples per channel at `source_rate`) if known up
    front (then the header carries it, so a truncated file still knows its duration); `live`
    flushes every packet (pipes). A ladder model's header carries its groups (format
    version 3); `framing` "compact" (live links, version 3) drops the sync words
    (docs/fcs-format.md, 2.7).
    """
    kwargs: dict[str, Any] = {}
    if packet_tokens is not None:
        kwargs["packet_tokens"] = packet_tokens
    if channels > MAX_CODED_CHANNELS:
        raise InputProblem(f"has {channels} channels; focal codes at most {MAX_CODED_CHANNELS} "
                           "(without --multichannel the channels are mixed to mono)")
    header = FcsHeader(
        model_name=codec.name, model_hash=codec.weights_hash,
        bits_per_token=codec.bits_per_token, token_rate=codec.token_rate,
        sample_rate_input=codec.sample_rate_input, sample_rate_output=codec.sample_rate_output,
        channels=channels, source_sample_rate=source_rate, num_samples=source_frames,
        metadata={}, token_space=getattr(codec, "token_space", None),
        groups=int(getattr(codec, "num_groups", 1)), framing=framing, **kwargs)
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


def open_reader(stream: BinaryIO, name: str) -> FcsReader:
    """An :class:`FcsReader` over `stream` with its header read; StreamInvalid (exit 5) if it is
    no usable .fcs, InputProblem (exit 3) if it cannot be read. `name` names it in errors."""
    try:
        return FcsReader(stream)
    except FcsError as err:
        raise _invalid(err, name) from None
    except OSError as err:
        raise InputProblem(describe_os_error(err), name) from None


#: most tokens per channel in one block of concealed (-1) tokens: lost ranges and a cut-off
#: end come out in pieces, so a crafted gap never needs one huge array
FILL_BLOCK_TOKENS = 4096
#: highest source sample rate focal decodes to (`--rate source`), Hz
MAX_SOURCE_RATE = 768000
#: most coded channels focal encodes and decodes (the format allows 255): every channel is one
#: more sequence in the model's batch, so this bounds the memory a header can ask for
MAX_CODED_CHANNELS = 16


class TokenStream:
    """An .fcs being read packet by packet: its header, then blocks of tokens as they arrive.

    Lost tokens come out as -1 (the engine conceals them); a truncated end is filled with -1
    up to the known length, so decoding conceals it instead of cutting the audio short, but
    never beyond what the stream justifies (`FcsReader.num_samples`: the tokens present plus
    at most two packets, 10 s). `damages` and `num_samples` are complete once `blocks()` is
    exhausted. Streams chained one after the other (``cat a.fcs b.fcs``) are read in turn:
    after `blocks()`, `next_stream()` moves to the next one; `damages` collects those of all
    streams, positions counted from the start of the first.
    """

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.name = name
        self._reader = open_reader(stream, name)
        self.header: FcsHeader = self._reader.header
        self.damages: list[Damage] = []
        self.stream_index = 1  # 1 for the first stream of a chain
        self._offset = 0  # tokens per channel of the streams before this one

    def check_codec(self, codec: Any) -> None:
        """Refuse (StreamInvalid, exit 5) a header whose fields `codec` does not have."""
        check_header_for_codec(self.header, codec, self.name)

    def next_stream(self) -> bool:
        """Move on to the stream chained after this one; False when there is none.

        Bytes after the end marker that are no .fcs header are recorded as a 'junk' damage.
        Call once `blocks()` is exhausted; then `header` and the lengths are the new stream's.
        """
        offset = self._offset + self._reader.tokens_justified - 1
        if self._reader.total_tokens is not None:
            offset = self._offset + self._reader.total_tokens
        try:
            following = self._reader.next_stream()
        except FcsError:
            junk = self._reader.skip_rest()
            self.damages.append(Damage(offset, 0, "junk", skipped_bytes=junk))
            return False
        except OSError as err:
            raise InputProblem(describe_os_error(err), self.name) from None
        if following is None:
            return False
        self._reader = following
        self.header = following.header
        self._offset = offset
        self.stream_index += 1
        return True

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
        """Samples per channel of the original audio at the source rate (header or end marker),
        as far as the stream's tokens justify them (`FcsReader.num_samples`)."""
        return self._reader.num_samples

    @property
    def num_samples(self) -> int | None:
        """Samples per channel at the model's input rate."""
        return source_to_input_samples(self.header, self.source_samples)

    def duration_s(self) -> float | None:
        n = self.num_samples
        return None if n is None else n / self.header.sample_rate_input

    def output_length(self, rate: int) -> int | None:
        """Samples per channel of the decoded audio at `rate` Hz (None: not known yet):
        ``floor(source_samples * rate / source_rate)``, the reference decoder's rule
        (``int(n * sr_out / sr_in)``). At the source rate this is the original count exactly.
        """
        source = self.source_samples
        if source is None:
            return None
        return output_length(source, self.header.source_sample_rate, rate)

    def blocks(self, chunk_tokens: int = 1,
               num_tokens: Callable[[int], int] | None = None) -> Iterator[np.ndarray]:
        """int64 (channels, k) blocks in stream order, -1 where tokens were lost; a ladder
        stream gives (channels, k, groups), -1 also in the groups a packet did not carry.

        At the end, when the length is known, -1 fills the stream up to the tokens the encoder
        gives for it, rounded up to whole `chunk_tokens`: `num_tokens(num_samples)` (the
        model's own count, `FocalCodec.num_tokens`: 199 for 4 s of a non-causal 50 Hz model)
        or, without it, ``ceil(num_samples * token_rate / sample_rate_input)``."""
        h = self.header
        produced = 0
        try:
            for item in self._reader.packets():
                if isinstance(item, Damage):
                    self.damages.append(replace(item, token_start=item.token_start
                                                + self._offset))
                    produced += item.token_count
                    yield from _lost_blocks(h.channels, item.token_count, chunk_tokens,
                                            h.groups)
                    continue
                toks = item.toks
                produced += toks.shape[1]
                if toks.shape[1]:
                    yield toks
        except OSError as err:
            raise InputProblem(describe_os_error(err), self.name) from None
        if self.num_samples is not None:
            if num_tokens is not None:
                needed = num_tokens(self.num_samples)
            else:
                needed = math.ceil(self.num_samples * h.token_rate / h.sample_rate_input)
            needed = -(-needed // chunk_tokens) * chunk_tokens
            if produced < needed:
                yield from _lost_blocks(h.channels, needed - produced, chunk_tokens, h.groups)

    def describe_damage(self) -> str:
        return describe_damage(self.damages, self.header, self._reader.stated_num_samples)


def check_header_for_codec(header: FcsHeader, codec: Any, name: str) -> None:
    """Refuse (StreamInvalid, exit 5) a header whose fields `codec` does not have.

    Bits per token, token rate and the input and output sample rates must be the model's
    own; at most MAX_CODED_CHANNELS channels; the source rate (what `--rate source` resamples
    to) at most 768 kHz.
    """
    model_rate = Fraction(float(codec.token_rate)).limit_denominator(65535)
    checks = (
        ("bits per token", header.bits_per_token, int(codec.bits_per_token)),
        ("token rate", Fraction(*header.token_rate_fraction), model_rate),
        ("input sample rate", header.sample_rate_input, int(codec.sample_rate_input)),
        ("output sample rate", header.sample_rate_output, int(codec.sample_rate_output)),
        ("tokens per frame", header.groups, int(getattr(codec, "num_groups", 1))),
    )
    for label, got, wanted in checks:
        if got != wanted:
            raise StreamInvalid(f"header says {label} {got}, but model {codec.name} has "
                                f"{wanted}: not a stream of this model", name)
    if header.channels > MAX_CODED_CHANNELS:
        raise StreamInvalid(f"header says {header.channels} channels; focal decodes at most "
                            f"{MAX_CODED_CHANNELS}", name)
    if header.source_sample_rate > MAX_SOURCE_RATE:
        raise StreamInvalid(f"header says source sample rate {header.source_sample_rate} Hz, "
                            f"beyond the {MAX_SOURCE_RATE} Hz focal decodes", name)


def unplayed_rest(reader: FcsReader) -> str | None:
    """After a stream was read to its end marker: what follows it that was not read (another
    chained stream, or junk), as a warning line; None if nothing follows."""
    try:
        following = reader.next_stream()
    except FcsError:
        return f"{reader.skip_rest()} bytes of junk after the end marker were ignored"
    if following is None:
        return None
    return ("another .fcs stream follows the first (concatenated files); only the first was "
            "played: `focal decode` decodes them all")


def _lost_blocks(channels: int, count: int, chunk_tokens: int,
                 groups: int = 1) -> Iterator[np.ndarray]:
    """`count` lost tokens per channel as -1 blocks of at most about FILL_BLOCK_TOKENS
    ((channels, k, groups) for a ladder stream)."""
    step = max(chunk_tokens, FILL_BLOCK_TOKENS // chunk_tokens * chunk_tokens)
    for start in range(0, count, step):
        shape: tuple[int, ...] = (channels, min(step, count - start))
        yield np.full(shape + ((groups,) if groups > 1 else ()), LOST_TOKEN, dtype=np.int64)


def source_to_input_samples(header: FcsHeader, source_samples: int | None) -> int | None:
    """The header's sample count (at the source rate) converted to the model's input rate."""
    if source_samples is None:
        return None
    return resampled_length(source_samples, header.source_sample_rate, header.sample_rate_input)


def describe_damage(damages: list[Damage] | tuple[Damage, ...], header: FcsHeader,
                    num_samples: int | None) -> str:
    """One line: how much was lost and where, in seconds; junk and dropped duplicates too.

    `num_samples`: the length the stream states (source rate), for "truncated at .. of .. s".
    """
    rate = header.token_rate
    parts = []
    lost = [d for d in damages if d.kind in ("corrupt", "gap")]
    if lost:
        seconds = sum(d.token_count for d in lost) / rate
        first = lost[0].token_start / rate
        parts.append(f"{len(lost)} lost range{'s' if len(lost) > 1 else ''} "
                     f"({seconds:.2f} s from {first:.2f} s)")
    junk = sum(d.skipped_bytes for d in damages if d.kind == "junk")
    if junk:
        parts.append(f"{junk} byte{'s' if junk > 1 else ''} of junk skipped")
    dups = sum(1 for d in damages if d.kind == "duplicate")
    if dups:
        parts.append(f"{dups} duplicate or out-of-order packet{'s' if dups > 1 else ''} "
                     "dropped")
    for d in damages:
        if d.kind == "truncated":
            total = (f" of {num_samples / header.source_sample_rate:.2f} s"
                     if num_samples is not None else "")
            parts.append(f"truncated at {d.token_start / rate:.2f} s{total}")
    return ", ".join(parts) or "damaged"
