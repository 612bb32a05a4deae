"""Audio source -> tokens -> .fcs bytes: the encode loop every runner shares.

`focal encode` (one file, `-j N` threads), the corpus runners (`--shard`, `--ray`), the token
export and :mod:`focalcli.api` all call :func:`encode_source`, so the same input gives the
same tokens and the same `.fcs` bytes whichever way it was run. Packet-ms -> tokens is
:func:`packet_tokens_for`, here only. Imports the engine (hence torch) at call time only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from focalcli.errors import InputProblem, UsageProblem

#: seconds of input read and coded per step
BLOCK_SECONDS = 10.0


@dataclass(frozen=True)
class EncodedSource:
    """What one encode produced.

    source_rate: sample rate of the input, Hz. channels: coded channels (1 unless
    multichannel). num_frames: samples per channel read, at `source_rate`. num_tokens: tokens
    per channel. toks: int64 (channels, num_tokens) when `keep_toks` was asked, else None.
    """

    source_rate: int
    channels: int
    num_frames: int
    num_tokens: int
    toks: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        """Length of the input in seconds."""
        return self.num_frames / self.source_rate if self.source_rate else 0.0


def encode_source(codec: Any, source: Any, out: BinaryIO | None, *, name: str,
                  multichannel: bool = False, packet_tokens: int | None = None,
                  live: bool = False, keep_toks: bool = False,
                  check: Callable[[], None] | None = None,
                  advance: Callable[[float], None] | None = None,
                  rungs: Any = None) -> EncodedSource:
    """Encode an open :class:`~focalcli.audio.AudioSource` with `codec`, writing `.fcs` to `out`.

    The source is resampled to ``codec.sample_rate_input`` (soxr, streaming) and downmixed to
    mono unless `multichannel`; it is read in blocks of :data:`BLOCK_SECONDS`. `out` receives
    the `.fcs` stream (header first, end marker on success); None writes nothing (token export).
    `packet_tokens`: tokens per packet (None: the container's default); `live` flushes every
    packet. `check()` is called before each block (it may raise to cancel), `advance(seconds)`
    after it. `name` names the input in errors (InputProblem, exit 3, for unreadable audio).
    `rungs`: a :class:`~focalcli.pipeline.rungs.RungSchedule` for a ladder model (None: the
    top rung); the kept tokens are every group, whatever was sent.
    """
    from focalcli.audio import AudioError
    from focalcli.pipeline.fcs import new_writer
    from focalcli.pipeline.streaming import StreamEncoder

    rate = source.sample_rate
    coded_channels = source.channels if multichannel else 1
    if packet_tokens is not None and out is not None:
        check_packet_fits(packet_tokens, coded_channels, name)
    writer = None
    if out is not None:
        writer = new_writer(out, codec, source_rate=rate, channels=coded_channels,
                            source_frames=source.num_frames, packet_tokens=packet_tokens,
                            live=live)
    kept: list[np.ndarray] = []
    num_tokens = 0

    def emit(toks: np.ndarray) -> None:
        nonlocal num_tokens
        if not toks.shape[1]:
            return
        if writer is not None:
            pieces = ([toks] if rungs is None
                      else rungs.split(toks, num_tokens, writer.header.packet_tokens))
            for piece in pieces:
                writer.write(piece)
        num_tokens += toks.shape[1]
        if keep_toks:
            kept.append(toks)

    with StreamEncoder(codec, rate, source.channels, multichannel=multichannel) as encoder:
        try:
            for block in source.blocks(max(1, int(BLOCK_SECONDS * rate))):
                if check is not None:
                    check()
                emit(encoder.push(block))
                if advance is not None:
                    advance(block.shape[1] / rate)
        except AudioError as err:
            raise InputProblem(str(err), name) from None
        emit(encoder.flush())
        frames = encoder.frames_in
    if writer is not None:
        writer.close(num_samples=frames)
    all_toks = None
    if keep_toks:
        groups = int(codec.num_groups)
        empty = (coded_channels, 0, groups) if groups > 1 else (coded_channels, 0)
        all_toks = (np.concatenate(kept, axis=1) if kept else np.zeros(empty, dtype=np.int64))
    return EncodedSource(rate, coded_channels, frames, num_tokens, all_toks)


def check_packet_fits(packet_tokens: int, channels: int, name: str | None = None) -> None:
    """UsageProblem (exit 2) if `packet_tokens` per channel x `channels` exceed a packet."""
    from focalcli.container.fcs import MAX_TOKENS_PER_PACKET

    if packet_tokens * channels > MAX_TOKENS_PER_PACKET:
        raise UsageProblem(f"--packet-ms: {packet_tokens} tokens x {channels} "
                           f"channels exceed the {MAX_TOKENS_PER_PACKET} tokens a packet "
                           "holds; use shorter packets", name)


def packet_tokens_for(codec: Any, packet_ms: float | None, live_stream: bool) -> int | None:
    """Tokens per `.fcs` packet for `--packet-ms` (None: the container's default of 4 s).

    A live stream (`live_stream`: raw PCM on stdin) gets one 80 ms chunk a packet. A packet
    longer than the format allows is a usage error (exit 2).
    """
    from focalcli.container import LIVE_PACKET_TOKENS
    from focalcli.container.fcs import MAX_TOKENS_PER_PACKET
    from focalcli.errors import UsageProblem

    if packet_ms is not None:
        tokens = max(1, round(packet_ms / 1000 * codec.token_rate))
        if tokens > MAX_TOKENS_PER_PACKET:
            longest = 1000 * MAX_TOKENS_PER_PACKET / codec.token_rate
            raise UsageProblem(f"--packet-ms {packet_ms:.0f}: a packet holds at most "
                               f"{MAX_TOKENS_PER_PACKET} tokens, {longest:.0f} ms with model "
                               f"{codec.name}")
        return tokens
    if live_stream:
        return LIVE_PACKET_TOKENS
    return None
