"""Real-time pacing of a source: :class:`PacedSource` delivers a file's blocks no faster than
real time, like a microphone (the live part of `focal stream --realtime`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from focalcli.audio.sources import AudioSource


class PacedSource(AudioSource):
    """Another source's blocks of ``block_s`` seconds, each released when it would have been
    fully captured by a microphone started when iteration began (real-time pacing)."""

    def __init__(self, inner: AudioSource, block_s: float = 0.01) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.channels = inner.channels
        self.num_frames = inner.num_frames
        self.description = f"{inner.description}, paced in real time"
        self.block_frames = max(1, int(round(block_s * inner.sample_rate)))

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        start = time.monotonic()
        done = 0
        for block in self.inner.blocks(self.block_frames):
            done += block.shape[1]
            wait = start + done / self.sample_rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield block

    def close(self) -> None:
        self.inner.close()
