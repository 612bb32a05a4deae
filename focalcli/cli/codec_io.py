"""Audio blocks <-> token blocks through a codec, without holding a whole file in memory.

Causal (streaming) models go through the engine's sessions block by block; offline models
need the whole signal and go through `encode_signal` / `decode_tokens`. Imported only by the
commands that code audio (it imports the engine, hence torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from focalcli.engine import DecoderSession, EncoderSession, decode_tokens, encode_signal

#: seconds of tokens decoded per step (bounds memory, paces progress)
DECODE_BLOCK_SECONDS = 10.0


def sig_blocks_to_toks(codec: Any, sig_blocks: Iterable[np.ndarray],
                       channels: int) -> Iterator[np.ndarray]:
    """float32 (channels, n) blocks at `codec.sample_rate_input` -> int64 (channels, k) blocks.

    The tokens are those of the concatenated signal (the last chunk zero-padded).
    """
    if not codec.causal:
        parts = list(sig_blocks) or [np.zeros((channels, 0), dtype=np.float32)]
        yield encode_signal(codec, np.concatenate(parts, axis=1))
        return
    with EncoderSession(codec, batch_size=channels) as session:
        for sig in sig_blocks:
            if sig.shape[1]:
                yield session.push(sig)
        yield session.flush()


def toks_to_sig_blocks(codec: Any, tok_blocks: Iterable[np.ndarray],
                       channels: int) -> Iterator[np.ndarray]:
    """int64 (channels, k) blocks (negative = lost, concealed) -> float32 (channels, m) blocks
    at `codec.sample_rate_output`, covering all the tokens (trim to the true length after)."""
    if not codec.causal:
        parts = list(tok_blocks) or [np.zeros((channels, 0), dtype=np.int64)]
        yield decode_tokens(codec, np.concatenate(parts, axis=1))
        return
    step = max(codec.chunk_tokens, int(DECODE_BLOCK_SECONDS * codec.token_rate)
               // codec.chunk_tokens * codec.chunk_tokens)
    with DecoderSession(codec, batch_size=channels) as session:
        for toks in tok_blocks:
            for start in range(0, toks.shape[1], step):
                yield session.push(toks[:, start : start + step])
        yield session.flush()
