"""Live encoding: audio blocks as they arrive -> tokens, chunk by chunk, until the input ends or
the user stops it (Ctrl-C, SIGTERM), always ending cleanly so the stream gets its end marker.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO

import numpy as np

from focalcli.audio.convert import StreamResampler, downmix
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
    """Encode float32 (channels, n) blocks at ``source_rate`` Hz, downmixed to mono.

    Each block is resampled to ``codec.sample_rate_input`` and pushed through an
    ``EncoderSession``; ``on_toks`` gets every (1, k) token array as soon as a chunk completes
    (k may be 0) and finally the tokens of the zero-padded last chunk. The tokens equal those
    of ``focal encode`` on the same samples.
    """
    from focalcli.engine import EncoderSession

    stats = EncodeStats()
    stop = stop or StopRequest()
    resampler = StreamResampler(source_rate, codec.sample_rate_input, 1)
    with EncoderSession(codec) as session:

        def push(sig: np.ndarray) -> None:
            t0 = time.perf_counter()
            toks = session.push(sig)
            if toks.shape[1]:
                stats.compute_s.append(time.perf_counter() - t0)
                stats.chunks += toks.shape[1] // codec.chunk_tokens
            on_toks(toks)

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
            stats.frames_in += block.shape[1]
            push(resampler.push(downmix(block)))
        stats.stopped = stats.stopped or stop.requested
        push(resampler.flush())
        tail = session.flush()
        if tail.shape[1]:
            stats.chunks += 1
        on_toks(tail)
    return stats


def warm_up(codec: Any) -> None:
    """Run one chunk of silence through a throwaway encoder and decoder session.

    The first model call is several times slower than the next ones (allocation, kernel
    selection); paying it before the stream starts keeps it out of the first packet's latency.
    """
    from focalcli.engine import DecoderSession, EncoderSession

    with EncoderSession(codec) as enc:
        toks = enc.push(np.zeros((1, codec.chunk_size), dtype=np.float32))
    with DecoderSession(codec) as dec:
        dec.push(toks)


class PacketDropper:
    """A binary output that drops whole data packets as a :class:`LossModel` decides.

    It relies on :class:`~focalcli.container.FcsWriter` with ``flush_each_packet=True`` handing
    over one frame per ``write`` call: a write of exactly one data packet's size that starts
    with the data sync pattern is a data packet; everything else (header, end marker) passes.
    """

    def __init__(self, stream: BinaryIO, loss: LossModel) -> None:
        self._stream = stream
        self._loss = loss
        #: size of one data packet; set it once the writer has its header (None: drop nothing)
        self.packet_bytes: int | None = None
        self.dropped = 0

    def write(self, data: bytes | memoryview) -> int:
        raw = bytes(data)
        if len(raw) == self.packet_bytes and raw[:2] == DATA_SYNC and self._loss.lost():
            self.dropped += 1
            return len(raw)
        self._stream.write(raw)
        return len(raw)

    def flush(self) -> None:
        self._stream.flush()
