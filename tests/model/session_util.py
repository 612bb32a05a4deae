"""Helpers for the streaming tests of whole models: speech-like test audio, and coding it through
the engine's sessions in given pieces."""

from __future__ import annotations

from typing import Any

import numpy as np

from focalcli.engine.session import DecoderSession, EncoderSession


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced-like tone (150 Hz, 3 Hz envelope) with a little noise: float32 (N,) at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (x + 0.03 * rng.standard_normal(t.size)).astype(np.float32)


def encode(codec: Any, x: np.ndarray, cuts: list[int]) -> np.ndarray:
    """Samples (N,) pushed to an EncoderSession cut at ``cuts``, then flushed -> tokens."""
    with EncoderSession(codec) as enc:
        pieces, start = [], 0
        for cut in [*cuts, x.size]:
            pieces.append(enc.push(x[None, start:cut]))
            start = cut
        return np.concatenate([*pieces, enc.flush()], axis=1)


def decode(codec: Any, pieces: list[np.ndarray]) -> np.ndarray:
    """Token pieces pushed to a DecoderSession in order, then flushed -> samples (1, n)."""
    with DecoderSession(codec) as dec:
        return np.concatenate([dec.push(p) for p in pieces] + [dec.flush()], axis=1)
