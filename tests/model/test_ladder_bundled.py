"""The bundled bitrate-ladder model: what it promises (rungs, size, card), that rung 1 is
focal-small v6 token for token and sample for sample, and that each further rung brings the
decoded spectrum closer to the input on real, unseen speech (dev files from ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from focalcli.model import load_codec

NAME = "focal-small-ladder"
FOLDER = Path(__file__).resolve().parents[2] / "focalcli" / "bundled" / NAME
SPEECH = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech"
DEV_FILES = ["librispeech/1183-124566-0000.flac", "ms-snsd/clnsp141.flac", "ms-snsd/clnsp144.flac"]


@pytest.fixture(scope="module")
def codec():
    torch.set_num_threads(1)
    return load_codec(NAME)


def test_promises(codec) -> None:
    assert codec.causal and codec.token_rate == 50 and codec.latency_ms == 80
    assert (codec.num_groups, codec.bits_per_group, codec.bits_per_token) == (4, 12, 12)
    assert codec.rung_groups == [1, 2, 4] and codec.rungs == [12, 24, 48]
    assert [codec.rung_bitrate_kbps(g) for g in (1, 2, 4)] == pytest.approx([0.6, 1.2, 2.4])
    assert (FOLDER / "model.safetensors").stat().st_size <= 16 * 1000**2
    card = (FOLDER / "MODEL_CARD.md").read_text()
    assert "Licence:" in card and "LibriSpeech" in card and "VCTK" in card
    for row in ("| 1 group, 0.6 kbit/s", "| 2 groups, 1.2 kbit/s", "| 4 groups, 2.4 kbit/s"):
        assert row in card
    assert json.loads((FOLDER / "config.json").read_text()) == codec.config


def _mel_distance(out: np.ndarray, ref: np.ndarray) -> float:
    """Multi-resolution log-mel L1 (the training objective's mel term) of out against ref."""
    from focalcli.train.losses import MultiResolutionSpectralLoss

    loss = MultiResolutionSpectralLoss()
    with torch.no_grad():
        return float(loss(torch.from_numpy(out)[None], torch.from_numpy(ref)[None])["mel"])


def _code(codec, sig: np.ndarray, groups: int | None) -> tuple[torch.Tensor, np.ndarray]:
    x = torch.from_numpy(np.pad(sig, (0, -len(sig) % codec.chunk_size)))[None]
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(x)
        sent = toks if groups is None else toks[..., :groups]
        out, _ = codec.toks_to_sig(sent)
    return toks, out[0, : len(sig)].numpy()


@pytest.fixture(scope="module")
def distances(codec) -> dict[str, dict[int, float]]:
    """Per dev file: groups sent -> mel distance of the decoded signal to the input."""
    out: dict[str, dict[int, float]] = {}
    for rel in DEV_FILES:
        path = SPEECH / rel
        if not path.is_file():
            pytest.skip(f"no shared speech at {path}")
        sig, sr = sf.read(str(path), dtype="float32")
        assert sr == 16000
        toks, _ = _code(codec, sig, 4)
        assert toks.shape == (1, -(-len(sig) // 1280) * 4, 4) and toks.dtype == torch.int64
        out[rel] = {}
        for g in (1, 2, 4):
            _, dec = _code(codec, sig, g)
            assert dec.shape == sig.shape and np.isfinite(dec).all() and np.abs(dec).max() < 1.5
            out[rel][g] = _mel_distance(dec, sig)
    return out


@pytest.mark.parametrize("rel", DEV_FILES)
def test_each_file_decodes_closer_with_two_groups_than_with_one(distances, rel: str) -> None:
    """Rung 2 beats rung 1 on every one of the 60 dev files for the shipped model."""
    dist = distances[rel]
    assert dist[2] < dist[1], dist


def test_four_groups_beat_two_on_average(distances) -> None:
    """On dev, 4 groups beat 2 on most files, not all (83 % of the 60 for the shipped model;
    4 beat 1 on 98 %, and clnsp144 here is an exception), so this is the mean over the test
    files, and the full rung beats rung 1 by a clear margin."""
    mean = {g: float(np.mean([d[g] for d in distances.values()])) for g in (1, 2, 4)}
    assert mean[4] < mean[2] < mean[1], mean
    assert mean[1] - mean[4] > 0.01, mean


def test_rung_one_is_focal_small_v6(codec) -> None:
    v6 = load_codec("focal-small")
    rng = np.random.default_rng(5)
    t = np.arange(16000) / 16000
    sig = (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))
           + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    toks, out1 = _code(codec, sig, 1)
    t6, out6 = _code(v6, sig, None)
    assert torch.equal(toks[..., 0], t6)
    np.testing.assert_allclose(out1, out6, atol=1e-5, rtol=0)
