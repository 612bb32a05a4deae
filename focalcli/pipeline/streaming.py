"""Streaming encoder and decoder objects: audio blocks <-> token blocks, push by push.

:class:`StreamEncoder` takes float32 (channels, n) blocks at any source rate, downmixes them
to mono (unless `multichannel`), resamples them to the model's input rate (soxr, streaming)
and returns the int64 tokens of every chunk completed so far; :class:`StreamDecoder` takes
int64 token blocks (:data:`~focalcli.container.LOST_TOKEN` where lost: concealed) and returns
float32 audio at the model's output rate, or resampled to `out_rate`. Both follow the same
lifecycle: ``push`` any number of times, ``flush`` once (the rest, the last chunk
zero-padded), ``close`` (or use them as context managers). Causal models stream; a non-causal
model codes the whole signal at ``flush`` (its ``push`` returns nothing).

The tokens equal those of ``focal encode`` on the same samples, whatever the block sizes.
Imports the engine (torch) when an object is made, not at import time.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np

#: seconds of tokens decoded per step (bounds memory, paces progress)
DECODE_BLOCK_SECONDS = 10.0


class StreamEncoder:
    """float32 (channels, n) at `source_rate` Hz -> int64 tokens (coded_channels, k); a ladder
    model gives every group, (coded_channels, k, G) (a sender keeps the first g of them).

    coded_channels: 1, or `channels` with `multichannel`. frames_in: samples per channel
    pushed so far, at `source_rate`.
    """

    def __init__(self, codec: Any, source_rate: int, channels: int = 1, *,
                 multichannel: bool = False) -> None:
        from focalcli.audio import StreamResampler
        from focalcli.engine import EncoderSession

        self.codec = codec
        self.source_rate = int(source_rate)
        self.coded_channels = channels if multichannel else 1
        self.multichannel = multichannel
        self.frames_in = 0
        self._resampler = StreamResampler(self.source_rate, int(codec.sample_rate_input),
                                          self.coded_channels)
        self._session = (EncoderSession(codec, batch_size=self.coded_channels)
                         if codec.causal else None)
        self._held: list[np.ndarray] = []  # non-causal: the whole signal, coded at flush
        self._flushed = False

    def _empty(self) -> np.ndarray:
        groups = int(self.codec.num_groups)
        shape = (self.coded_channels, 0, groups) if groups > 1 else (self.coded_channels, 0)
        return np.zeros(shape, dtype=np.int64)

    def _code(self, sig: np.ndarray) -> np.ndarray:
        if self._session is None:
            self._held.append(sig)
            return self._empty()
        if not sig.shape[1]:
            return self._empty()
        return self._session.push(sig)

    def push(self, block: np.ndarray) -> np.ndarray:
        """Code float32 `block` (channels, n); tokens of the chunks it completed (maybe none)."""
        from focalcli.audio import downmix

        if self._flushed:
            raise RuntimeError("StreamEncoder.push after flush")
        block = np.asarray(block, dtype=np.float32)
        self.frames_in += block.shape[1]
        return self._code(self._resampler.push(block if self.multichannel else downmix(block)))

    def flush(self) -> np.ndarray:
        """The remaining tokens (the last chunk zero-padded). Call once, after the last push."""
        from focalcli.engine import encode_signal

        if self._flushed:
            return self._empty()
        self._flushed = True
        rest = self._code(self._resampler.flush())
        if self._session is None:
            parts = self._held or [np.zeros((self.coded_channels, 0), dtype=np.float32)]
            self._held = []
            return encode_signal(self.codec, np.concatenate(parts, axis=1))
        tail = self._session.flush()
        return np.concatenate([rest, tail], axis=1) if rest.shape[1] else tail

    def close(self) -> None:
        """Free the model state (idempotent); tokens not flushed are dropped."""
        if self._session is not None:
            self._session.reset()
        self._held = []

    def __enter__(self) -> StreamEncoder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class StreamDecoder:
    """int64 tokens (channels, k), negative = lost -> float32 (channels, m) audio. A ladder
    model takes (channels, k, g), g <= G, at any rung from push to push (negative groups: not
    sent).

    The audio is at ``codec.sample_rate_output`` Hz, or resampled to `out_rate`. A causal
    decoder returns the audio of every complete chunk as it is pushed; cut the total to
    :func:`focalcli.container.output_length` (``ExactLength``) for the stream's exact length.
    """

    def __init__(self, codec: Any, channels: int = 1, out_rate: int | None = None) -> None:
        from focalcli.audio import StreamResampler
        from focalcli.engine import DecoderSession

        self.codec = codec
        self.channels = channels
        self.out_rate = int(out_rate or codec.sample_rate_output)
        self._resampler = StreamResampler(int(codec.sample_rate_output), self.out_rate, channels)
        self._session = DecoderSession(codec, batch_size=channels) if codec.causal else None
        self._held: list[np.ndarray] = []
        self._step = max(codec.chunk_tokens, int(DECODE_BLOCK_SECONDS * codec.token_rate)
                         // codec.chunk_tokens * codec.chunk_tokens)
        self._flushed = False

    def _empty(self) -> np.ndarray:
        return np.zeros((self.channels, 0), dtype=np.float32)

    def push(self, toks: np.ndarray) -> np.ndarray:
        """Decode int64 `toks` (channels, k); the audio of the chunks completed (maybe none)."""
        if self._flushed:
            raise RuntimeError("StreamDecoder.push after flush")
        toks = np.asarray(toks, dtype=np.int64)
        if self._session is None:
            self._held.append(toks)
            return self._empty()
        out = [self._resampler.push(self._session.push(toks[:, start : start + self._step]))
               for start in range(0, toks.shape[1], self._step)]
        return np.concatenate(out, axis=1) if out else self._empty()

    def flush(self) -> np.ndarray:
        """The rest of the audio (the decoder's tail and the resampler's). Call once."""
        from focalcli.engine import decode_tokens

        if self._flushed:
            return self._empty()
        self._flushed = True
        if self._session is None:
            parts = self._held or [np.zeros((self.channels, 0), dtype=np.int64)]
            self._held = []
            sig = self._resampler.push(decode_tokens(self.codec, np.concatenate(parts, axis=1)))
        else:
            sig = self._resampler.push(self._session.flush())
        tail = self._resampler.flush()
        return np.concatenate([sig, tail], axis=1) if tail.shape[1] else sig

    def close(self) -> None:
        """Free the model state (idempotent)."""
        if self._session is not None:
            self._session.reset()
        self._held = []

    def __enter__(self) -> StreamDecoder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def warm_up(codec: Any) -> None:
    """Run one chunk of silence through a throwaway encoder and decoder session.

    The first model call is several times slower than the next ones (allocation, kernel
    selection); paying it before a live stream starts keeps it out of the first packet's
    latency.
    """
    from focalcli.engine import DecoderSession, EncoderSession

    with EncoderSession(codec) as enc:
        toks = enc.push(np.zeros((1, codec.chunk_size), dtype=np.float32))
    with DecoderSession(codec) as dec:
        dec.push(toks)
