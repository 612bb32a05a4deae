"""Whole-signal helpers on top of the sessions, and the thread setting."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from focalcli.engine.session import DecoderSession, EncoderSession
from focalcli.model.codec import FocalCodec

# Samples (or tokens) handed to a session per step, so progress can be reported.
BLOCK_SECONDS = 10.0


def default_threads() -> int:
    """``$FOCAL_THREADS`` or 1.

    Measured on 2 cores (bench/bench_model.py): when the cores are shared (``stream | play``,
    ``-j 2``, other work) one thread per process is fastest, and two threads collapse (4k model:
    41 s per audio second instead of 2.6); alone on an idle machine, the 4k model streams 2x
    faster with two threads (1.29 s/s), the bundled model barely gains (5.3 vs 6.3 ms per chunk).
    """
    from focalcli.settings import read_environment

    return read_environment().threads


def set_threads(n: int | None = None) -> None:
    torch.set_num_threads(n or default_threads())


def encode_signal(codec: FocalCodec, sig: np.ndarray,
                  on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Samples (C, n) at ``sample_rate_input`` -> tokens (C, k) int64, one stream per row.

    k = ``codec.num_tokens(n)``. Causal models: chunk_tokens * ceil(n / chunk_size) (the last
    chunk zero-padded), the same tokens a live stream gives. Non-causal models code the whole
    signal at once.
    ``on_progress`` receives the number of input samples consumed so far.
    """
    sig = np.atleast_2d(np.asarray(sig, dtype=np.float32))
    if not codec.causal:
        with torch.inference_mode():
            toks, _ = codec.sig_to_toks(torch.from_numpy(sig))
        return toks.numpy()
    block = int(BLOCK_SECONDS * codec.sample_rate_input)
    session = EncoderSession(codec, batch_size=sig.shape[0])
    out = []
    for start in range(0, sig.shape[1], block):
        out.append(session.push(sig[:, start : start + block]))
        if on_progress:
            on_progress(min(start + block, sig.shape[1]))
    out.append(session.flush())
    return np.concatenate(out, axis=1)


def decode_tokens(codec: FocalCodec, toks: np.ndarray, num_samples: int | None = None,
                  on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Tokens (C, k) -> samples (C, m) float32 at ``sample_rate_output``.

    Tokens < 0 are lost and concealed. With ``num_samples`` (the input length at
    ``sample_rate_input``) the output is cut, or padded by repeating its last sample, to
    ``codec.num_samples_output(num_samples)`` = ``floor(n * sr_out / sr_in)``, as the reference
    does.
    ``on_progress`` receives the number of tokens consumed so far.
    """
    toks = np.atleast_2d(np.asarray(toks, dtype=np.int64))
    if not codec.causal:
        with torch.inference_mode():
            sig = codec.toks_to_sig(torch.from_numpy(np.maximum(toks, 0)))[0].numpy()
    else:
        block = int(BLOCK_SECONDS * codec.token_rate)
        block -= block % codec.chunk_tokens
        session = DecoderSession(codec, batch_size=toks.shape[0])
        out = []
        for start in range(0, toks.shape[1], block):
            out.append(session.push(toks[:, start : start + block]))
            if on_progress:
                on_progress(min(start + block, toks.shape[1]))
        out.append(session.flush())
        sig = np.concatenate(out, axis=1)
    if num_samples is not None:
        length = codec.num_samples_output(num_samples)
        sig = sig[:, :length]
        if sig.shape[1] < length:
            sig = np.pad(sig, ((0, 0), (0, length - sig.shape[1])), mode="edge")
    return sig
