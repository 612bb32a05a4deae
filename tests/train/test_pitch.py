"""The pitch tracker, the trainer's pitch target, and warm starts into grown tensors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_smoke import _config, _trainer  # same folder: pytest puts it on sys.path

from focalcli.model.pitch import sig_to_pitch


def harmonic(f0: float, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """(1, N): a steady harmonic tone with a weak fundamental, plus -40 dB noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    sig = sum(np.sin(2 * np.pi * k * f0 * t + k) / (1 if k > 1 else 3) for k in range(1, 8))
    sig = sig / np.abs(sig).max() + 0.01 * rng.standard_normal(t.size)
    return torch.from_numpy(sig.astype(np.float32))[None]


@pytest.mark.parametrize("f0", [65.0, 98.0, 123.4, 180.0, 255.0, 390.0])
def test_tracker_finds_the_fundamental_not_an_octave_below(f0):
    log_f0, voiced = sig_to_pitch(harmonic(f0))
    inner = slice(2, -2)  # the edge frames see the padding
    assert voiced[0, inner].all()
    cents = 1200 * (log_f0[0, inner] - math.log(f0)) / math.log(2)
    assert cents.abs().max() < 20


def test_noise_and_silence_are_unvoiced():
    noise = torch.from_numpy(np.random.default_rng(1).standard_normal(16000).astype(np.float32))
    tone_then_silence = torch.cat([harmonic(150.0, 0.5)[0], torch.zeros(8000)])
    _, v_noise = sig_to_pitch(noise[None])
    _, v_mixed = sig_to_pitch(tone_then_silence[None])
    assert v_noise.float().mean() < 0.05
    assert v_mixed[0, 2:22].all() and not v_mixed[0, 28:].any()


def test_one_frame_per_hop():
    log_f0, voiced = sig_to_pitch(torch.zeros(3, 320 * 7))
    assert log_f0.shape == voiced.shape == (3, 7)
    assert not voiced.any()


def test_pitch_loss_trains_resumes_and_is_not_exported(tmp_path: Path):
    from focalcli.train.export import export_model

    cfg = _config()
    cfg.loss.pitch = 1.0
    tr = _trainer(cfg, tmp_path / "run")
    first = tr.train_step()["pitch"]
    logs = tr.fit(12)
    assert logs["pitch"] < first
    resumed = _trainer(cfg, tmp_path / "run")
    assert resumed.try_resume() and resumed.pitch_head is not None
    assert all(torch.equal(a, b) for a, b in zip(resumed.pitch_head.state_dict().values(),
                                                 tr.pitch_head.state_dict().values(), strict=True))
    out = export_model(tmp_path / "run", tmp_path / "model", name="tiny")
    from safetensors.torch import load_file

    assert not any("pitch" in k for k in load_file(out / "model.safetensors"))


@pytest.mark.parametrize("teacher", [0.0, 0.5])
def test_harmonic_decoder_learns_the_pitch_target(tmp_path: Path, teacher: float):
    cfg = _config()
    cfg.model["decoder_name"] = "Vocos"
    cfg.model["decoder_config"] = {"input_dim": 32, "num_layers": 1, "dim": 32, "ffn_dim": 64,
                                   "n_fft": 640, "hop_length": 320, "causal": True,
                                   "harmonics": 16}
    cfg.loss.pitch = 1.0
    cfg.loss.pitch_teacher = teacher
    cfg.data.crop_seconds = 0.33  # not a whole number of frames: the target is one frame short
    tr = _trainer(cfg, tmp_path / "run")
    assert tr.pitch_head is None  # the decoder's own f0 and voicing are trained
    first = tr.train_step()["pitch"]
    assert tr.fit(12)["pitch"] < first
    if teacher:
        return
    from focalcli.model.loading import load_codec
    from focalcli.train.export import export_model

    out = export_model(tmp_path / "run", tmp_path / "model", name="tiny-harmonic")
    assert "harmonic head: 16 harmonics" in (out / "MODEL_CARD.md").read_text()
    assert "pitch and voicing targets" in (out / "MODEL_CARD.md").read_text()
    codec = load_codec(str(out))
    assert codec.decoder.harmonic is not None and codec.decoder.harmonic.num_harmonics == 16


def test_warm_start_into_a_grown_front_end_starts_out_the_same(tmp_path: Path):
    """Adding pitch features grows the encoder's input projection; the new inputs start at 0."""
    from focalcli.model.loading import load_codec
    from focalcli.train.export import export_model

    cfg = _config()
    cfg.model["encoder_config"]["frontend"] = "logmel"
    _trainer(cfg, tmp_path / "run").fit(2)
    source = export_model(tmp_path / "run", tmp_path / "model", name="tiny-mel")
    grown = _config()
    grown.model["encoder_config"].update(frontend="logmel", pitch_features=True)
    grown.init_from = str(source)
    tr = _trainer(grown, tmp_path / "grown")
    proj = tr.codec.encoder.feature_proj.weight
    assert proj.shape[1] == load_codec(str(source)).encoder.feature_proj.weight.shape[1] + 2
    assert (proj[:, -2:] == 0).all()
    sig = harmonic(140.0, 0.64)
    with torch.no_grad():
        expected, _ = load_codec(str(source)).sig_to_feats(sig)
        got, _ = tr.codec.eval().sig_to_feats(sig)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
