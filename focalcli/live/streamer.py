"""Live encoding: audio blocks as they arrive -> tokens, chunk by chunk, until the input ends or
the user stops it (Ctrl-C, SIGTERM), always ending cleanly so the stream gets its end marker.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO, cast

import numpy as np

from focalcli.container.fcs import DATA_SYNC
from focalcli.live.netsim import LossModel


@dataclass
class EncodeStats:
    """What a live encode did.

    frames_in: input frames at the source rate.
    compute_s: model time per call that produced tokens, seconds.
    chunks: chunks coded (each ``codec.chunk_size`` samples).
    stopped: ended by a signal rather than by the end of the input.
    """

    frames_in: int = 0
    chunks: int = 0
    compute_s: list[float] = field(default_factory=list)
    stopped: bool = False

    def summary(self, chunk_ms: float) -> str:
        if not self.compute_s:
            return f"{self.chunks} chunks"
        mean = 1000 * float(np.mean(self.compute_s))
        worst = 1000 * float(np.max(self.compute_s))
        return (f"{self.chunks} chunks of {chunk_ms:g} ms; encode {mean:.1f} ms/chunk mean "
                f"({mean / chunk_ms:.2f} x real time), {worst:.1f} ms max")


class StopRequest:
    """Turns SIGINT/SIGTERM into a polite stop while installed (a context manager).

    A signal while the main thread waits for input (inside :meth:`waiting`) raises
    KeyboardInterrupt there, which :func:`encode_live` takes as the end of the input; a signal
    at any other moment only sets :attr:`requested`, checked between blocks, so no packet is
    ever cut in half. Outside the main thread it does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._waiting = False
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._waiting:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self._waiting = True
        try:
            if self.requested:
                raise KeyboardInterrupt
            yield
        finally:
            self._waiting = False

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def encode_live(codec: Any, blocks: Iterable[np.ndarray], source_rate: int,
                on_toks: Callable[[np.ndarray], None],
                stop: StopRequest | None = None) -> EncodeStats:
    """Encode float32 (channels, n) blocks at ``source_rate`` Hz, downmixed to mono, as they
    arrive, through a :class:`~focalcli.pipeline.StreamEncoder`.

    ``on_toks`` gets every (1, k) token array as soon as a chunk completes (k may be 0) and
    finally the tokens of the zero-padded last chunk. The tokens equal those of
    ``focal encode`` on the same samples. Only the pacing is live here: stopping between
    blocks, timing each chunk.
    """
    from focalcli.pipeline.streaming import StreamEncoder

    stats = EncodeStats()
    stop = stop or StopRequest()
    with StreamEncoder(codec, source_rate, 1) as encoder:

        def timed(step: Callable[[], np.ndarray]) -> np.ndarray:
            t0 = time.perf_counter()
            toks = step()
            if toks.shape[1]:
                stats.compute_s.append(time.perf_counter() - t0)
            return toks

        iterator = iter(blocks)
        while not stop.requested:
            try:
                with stop.waiting():
                    block = next(iterator, None)
            except KeyboardInterrupt:
                stats.stopped = True
                break
            if block is None:
                break
            toks = timed(functools.partial(encoder.push, block))
            stats.chunks += toks.shape[1] // codec.chunk_tokens
            on_toks(toks)
        stats.stopped = stats.stopped or stop.requested
        stats.frames_in = encoder.frames_in
        tail = timed(encoder.flush)
        stats.chunks += -(-tail.shape[1] // codec.chunk_tokens)
        on_toks(tail)
    return stats


@dataclass(frozen=True)
class StreamResult:
    """What :func:`stream_source` did: the encode's stats, data packets written, and packets
    dropped by the simulated loss (None without a loss simulation)."""

    stats: EncodeStats
    packets: int
    dropped: int | None


def stream_source(codec: Any, source: Any, out: BinaryIO, *, name: str, packet_tokens: int,
                  duration_s: float | None = None, network: Any = None, rungs: Any = None,
                  framing: str = "sync") -> StreamResult:
    """Stream an open audio source live into `out` as mono .fcs packets, each flushed as it
    completes, until the source ends, `duration_s` seconds of it were read, or SIGINT/SIGTERM
    (:class:`StopRequest`); the stream always gets its end marker.

    `network`: a :class:`~focalcli.live.netsim.NetworkSimulation` whose loss drops whole
    data packets on the way out (demos and tests). Unreadable input (a file, a device) is an
    InputProblem (exit 3) naming `name`. `rungs`: the
    :class:`~focalcli.pipeline.rungs.RungSchedule` of a ladder model (its live steps apply
    from the next chunk); `framing`: "sync" or "compact" (docs/fcs-format.md, 2.7).
    """
    from focalcli.audio import AudioError
    from focalcli.audio.devices import DeviceError
    from focalcli.container.fcs import data_packet_bytes
    from focalcli.errors import InputProblem
    from focalcli.pipeline.fcs import new_writer

    rate = int(source.sample_rate)
    limit = None if duration_s is None else int(round(duration_s * rate))
    known_frames = source.num_frames if limit is None else None

    def blocks() -> Iterator[np.ndarray]:
        taken = 0
        for block in source.blocks(max(1, rate // 100)):
            if limit is not None:
                block = block[:, : limit - taken]
            taken += block.shape[1]
            if block.shape[1]:
                yield block
            if limit is not None and taken >= limit:
                return

    dropper = None
    if network is not None and network.loss_percent > 0:
        dropper = PacketDropper(out, network.make()[0])
    if getattr(codec, "token_space", None) is None:
        framing = "sync"  # compact framing is format version 3, which names a token space
    writer = new_writer(cast(BinaryIO, dropper or out), codec, source_rate=rate, channels=1,
                        source_frames=known_frames, packet_tokens=packet_tokens, live=True,
                        framing=framing)
    if dropper is not None:
        h = writer.header
        dropper.packet_sizes = {data_packet_bytes(h, g) for g in range(1, h.groups + 1)}
        dropper.compact = h.framing == "compact"
    sent = 0

    def write(toks: np.ndarray) -> None:
        nonlocal sent
        pieces = [toks] if rungs is None else rungs.split(toks, sent, packet_tokens)
        for piece in pieces:
            writer.write(piece)
        sent += toks.shape[1]

    try:
        with StopRequest() as stop:
            stats = encode_live(codec, blocks(), rate, write, stop)
    except (AudioError, DeviceError) as err:
        raise InputProblem(str(err), name) from None
    if dropper is not None:
        dropper.packet_sizes = set()  # the end marker always goes out
    writer.close(num_samples=stats.frames_in)
    return StreamResult(stats, writer.packets_written,
                        None if dropper is None else dropper.dropped)


class PacketDropper:
    """A binary output that drops whole data packets as a :class:`LossModel` decides.

    It relies on :class:`~focalcli.container.FcsWriter` with ``flush_each_packet=True`` handing
    over one frame per ``write`` call: a write of one data packet's size (at any rung) that
    starts with the data sync pattern (compact framing: any, until the sizes are cleared
    before the end marker) is a data packet; everything else (header, end marker) passes.
    """

    def __init__(self, stream: BinaryIO, loss: LossModel) -> None:
        self._stream = stream
        self._loss = loss
        #: sizes of a data packet; set once the writer has its header (empty: drop nothing)
        self.packet_sizes: set[int] = set()
        self.compact = False
        self.dropped = 0

    def write(self, data: bytes | memoryview) -> int:
        raw = bytes(data)
        data_packet = len(raw) in self.packet_sizes and (self.compact or raw[:2] == DATA_SYNC)
        if data_packet and self._loss.lost():
            self.dropped += 1
            return len(raw)
        self._stream.write(raw)
        return len(raw)

    def flush(self) -> None:
        self._stream.flush()
