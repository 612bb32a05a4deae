"""The bundled default model: what the issue promises (format, size, latency) and that it codes
real, unseen speech recognisably (dev-split files from ../shared, never used for training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from focalcli.engine import decode_tokens, encode_signal
from focalcli.model import load_codec
from focalcli.model.registry import DEFAULT_MODEL

FOLDER = Path(__file__).resolve().parents[2] / "focalcli" / "bundled" / DEFAULT_MODEL
SPEECH = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech"
DEV_FILES = ["librispeech/1183-124566-0000.flac", "ms-snsd/clnsp141.flac"]


@pytest.fixture(scope="module")
def codec():
    return load_codec(DEFAULT_MODEL)


def test_promises_of_the_default_model(codec) -> None:
    assert codec.causal and codec.sample_rate_input == 16000 and codec.token_rate == 50
    assert codec.bits_per_token <= 12 and codec.bitrate_kbps <= 0.6
    assert codec.latency_ms is not None and codec.latency_ms <= 80
    assert (FOLDER / "model.safetensors").stat().st_size <= 16 * 1000**2
    card = (FOLDER / "MODEL_CARD.md").read_text()
    assert "Licence:" in card and "LibriSpeech" in card and "| Codec2 700C |" in card
    assert json.loads((FOLDER / "config.json").read_text()) == codec.config


def _band_energies(sig: np.ndarray) -> np.ndarray:
    """(frames, 16) log energies of 20 ms frames in 16 equal bands up to 8 kHz."""
    n = len(sig) // 320
    spec = np.abs(np.fft.rfft(sig[: n * 320].reshape(n, 320) * np.hanning(320), axis=1)) ** 2
    return np.log10(spec[:, :160].reshape(n, 16, 10).sum(-1) + 1e-10)


@pytest.mark.parametrize("rel", DEV_FILES)
def test_codes_unseen_speech_recognisably(codec, rel: str) -> None:
    path = SPEECH / rel
    if not path.is_file():
        pytest.skip(f"no shared speech at {path}")
    sig, sr = sf.read(str(path), dtype="float32")
    assert sr == 16000
    torch.set_num_threads(1)
    with torch.inference_mode():
        toks = encode_signal(codec, sig[None])
        out = decode_tokens(codec, toks, num_samples=len(sig))[0]
    assert out.shape == sig.shape and np.isfinite(out).all()
    ref_all = _band_energies(sig)
    speech = ref_all.max(axis=1) > ref_all.max() - 4  # frames within 40 dB of the loudest
    ref, dec = ref_all[speech], _band_energies(out)[speech]
    # the level survives (export calibrates it) and the spectro-temporal pattern follows the input
    level_db = 10 * np.log10(np.mean(out**2) / np.mean(sig**2))
    assert abs(level_db) < 3.0, level_db
    frame_corr = np.corrcoef(ref.sum(axis=1), dec.sum(axis=1))[0, 1]
    assert frame_corr > 0.9, frame_corr  # a random model: about 0
    band_corr = np.mean([np.corrcoef(ref[:, b], dec[:, b])[0, 1] for b in range(16)])
    assert band_corr > 0.85, band_corr
    # the codebook is used: a random or collapsed model repeats a few dozen tokens
    assert len(np.unique(toks)) > 0.4 * toks.size
