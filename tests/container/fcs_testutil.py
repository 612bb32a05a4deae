"""Shared helpers for the container tests: headers, token patterns, odd streams."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

from focalcli.container import FcsHeader, FcsReader, FcsWriter

MODEL_NAME = "focalcodec_50hz_4k_causal"
MODEL_HASH = "0123456789abcdef"


def make_header(**overrides: object) -> FcsHeader:
    """A realistic header (4k causal model, 12 bits, 50 Hz, 16 -> 24 kHz), fields overridable."""
    fields: dict[str, object] = dict(
        model_name=MODEL_NAME,
        model_hash=MODEL_HASH,
        bits_per_token=12,
        token_rate=50.0,
        sample_rate_input=16000,
        sample_rate_output=24000,
        channels=1,
        source_sample_rate=48000,
        num_samples=None,
    )
    fields.update(overrides)
    return FcsHeader(**fields)  # type: ignore[arg-type]


def pattern_tokens(channels: int, n: int, bits: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """Deterministic pseudo-random tokens, shape (channels, n), values in 0..2**bits - 1."""
    return np.random.default_rng(seed).integers(0, 1 << bits, size=(channels, n), dtype=np.int64)


def encode(header: FcsHeader, toks: npt.NDArray[np.int64], num_samples: int | None = None) -> bytes:
    """The .fcs bytes of ``toks`` (channels, n) written in one call."""
    out = io.BytesIO()
    with FcsWriter(out, header) as writer:
        writer.write(toks)
        writer.close(num_samples)
    return out.getvalue()


def decode(data: bytes) -> tuple[FcsReader, npt.NDArray[np.int64], list]:
    """Read ``data`` fully; returns (reader, toks, damages)."""
    reader = FcsReader(io.BytesIO(data))
    toks, damages, _ = reader.read_all()
    return reader, toks, damages


class TrickleStream:
    """Readable stream giving at most ``step`` bytes per read; counts the bytes pulled."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = len(self._data)
        n = min(size, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk

    @property
    def bytes_pulled(self) -> int:
        return self._pos


def load_script(filename: str) -> ModuleType:
    """Import a script that sits next to the tests (overhead.py, make_golden.py) by path."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"fcs_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
