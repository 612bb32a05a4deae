"""CI smoke test of the trainer: a tiny codec on synthesized speech-like audio.

Checks that the loss falls over a few steps, that a checkpoint resumes bit-exactly, and that the
export writes a folder the ordinary loader reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model.testing import TINY_CONFIG
from focalcli.train.config import TrainConfig, load_config
from focalcli.train.data import CropSampler, DataConfig
from focalcli.train.export import export_model
from focalcli.train.loop import Trainer


def _synth(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A vowel-like harmonic signal with a syllable envelope and a little noise, 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / 16000
    sig = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t)) ** 2
    return (0.05 * sig * env + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def _config() -> TrainConfig:
    cfg = TrainConfig(name="tiny", seed=0, steps=12, batch_size=2, threads=1,
                      model=copy.deepcopy(TINY_CONFIG))
    cfg.data = DataConfig(manifest=None, crop_seconds=0.32, noise_prob=0.5)
    cfg.optim.lr = 3e-3
    cfg.optim.warmup_steps = 1
    cfg.loss.quant_ramp = (0, 6)
    cfg.loss.fft_sizes = [256, 512]
    cfg.loss.n_mels = [32, 64]
    cfg.loss.group_entropy = 0.1
    cfg.log_every = 100
    return cfg


def _trainer(cfg: TrainConfig, run_dir: Path) -> Trainer:
    signals = [_synth(1.0, f0, i) for i, f0 in enumerate((110.0, 180.0, 240.0))]
    sampler = CropSampler(cfg.data, signals, ["a", "b", "b"])
    return Trainer(cfg, run_dir, sampler=sampler, log=lambda _msg: None)


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_loss_falls(tmp_path: Path) -> None:
    tr = _trainer(_config(), tmp_path / "run")
    losses = []
    for _ in range(12):
        losses.append(tr.train_step()["mel"])
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_resume_is_exact(tmp_path: Path) -> None:
    cfg = _config()
    a = _trainer(cfg, tmp_path / "a")
    a.fit(6)
    b = _trainer(cfg, tmp_path / "b")
    b.fit(3)  # saves last.pt at step 3
    c = _trainer(cfg, tmp_path / "b")
    assert c.try_resume() and c.step == 3
    c.fit(6)
    for (k, va), vc in zip(a.codec.state_dict().items(), c.codec.state_dict().values(),
                           strict=True):
        assert torch.equal(va, vc), k


def test_export_loads(tmp_path: Path) -> None:
    from focalcli.model.loading import load_codec

    tr = _trainer(_config(), tmp_path / "run")
    tr.fit(2)
    out = export_model(tmp_path / "run", tmp_path / "model", name="tiny")
    assert "Licence:" in (out / "MODEL_CARD.md").read_text()
    codec = load_codec(str(out))
    assert codec.causal and codec.bits_per_token == 8
    sd = tr.codec.state_dict()
    for k, v in codec.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_half_export_is_half_the_size_and_decodes_alike(tmp_path: Path) -> None:
    from safetensors import safe_open

    from focalcli.model.loading import load_codec

    tr = _trainer(_config(), tmp_path / "run")
    tr.fit(2)
    full = export_model(tmp_path / "run", tmp_path / "full", name="tiny")
    half = export_model(tmp_path / "run", tmp_path / "half", name="tiny", half=True)
    with safe_open(str(half / "model.safetensors"), "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    size = {d: (d / "model.safetensors").stat().st_size for d in (full, half)}
    ratio = size[half] / size[full]
    assert 0.45 < ratio < 0.6
    assert "float16" in (half / "MODEL_CARD.md").read_text()
    sig = torch.from_numpy(_synth(0.64, 150.0, 7))[None]
    a, b = load_codec(str(full)), load_codec(str(half))
    assert next(b.parameters()).dtype == torch.float32
    with torch.no_grad():
        ta, tb = a.sig_to_toks(sig)[0], b.sig_to_toks(sig)[0]
        ya = a.toks_to_sig(ta)[0]
        yb = b.toks_to_sig(ta)[0]
    assert (ta == tb).float().mean() > 0.9
    assert torch.allclose(ya, yb, atol=1e-3 * float(ya.abs().max()) + 1e-6)


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[2]
                                                       / "focalcli/train/configs").glob("*.json")))
def test_shipped_configs_are_valid(name: str) -> None:
    from focalcli.model.codec import FocalCodec

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "focalcli/train/configs" / name)
    m = cfg.model
    assert all(m[f"{r}_config"]["causal"] for r in ("encoder", "compressor", "decompressor",
                                                     "decoder"))
    codec = FocalCodec(m)
    assert codec.codebook_size <= 4096 and codec.token_rate == 50 and codec.latency_ms <= 80
    json.dumps(cfg.to_dict())


def test_waveform_loss_sees_phase() -> None:
    from focalcli.train.losses import waveform_loss

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, 16000)).astype(np.float32))
    spec = torch.fft.rfft(x)
    shuffled = torch.fft.irfft(spec.abs() * torch.exp(2j * torch.pi * torch.rand(spec.shape)),
                               n=16000)
    assert waveform_loss(x, x) == 0
    assert waveform_loss(1.1 * x, x) == pytest.approx(0.1, rel=1e-4)
    assert waveform_loss(3.3 * x, 3 * x) == pytest.approx(0.1, rel=1e-4)  # scale-free
    assert waveform_loss(shuffled, x) == pytest.approx(2**0.5, rel=0.05)  # same spectrum


def test_waveform_loss_is_trained_and_logged(tmp_path: Path) -> None:
    cfg = _config()
    cfg.loss.wave = 0.5
    logs = _trainer(cfg, tmp_path / "run").fit(2)
    assert logs["wave"] > 0


def test_gan_phase_runs(tmp_path: Path) -> None:
    cfg = _config()
    cfg.gan.enabled = True
    cfg.gan.crop_seconds = 0.2
    cfg.gan.periods = [2, 3]
    cfg.gan.stft_sizes = [256]
    tr = _trainer(cfg, tmp_path / "run")
    logs = tr.fit(3)
    assert {"adv", "fm", "disc"} <= set(logs)
    resumed = _trainer(cfg, tmp_path / "run")
    assert resumed.try_resume() and resumed.step == 3


def test_frozen_encoder_and_compressor_keep_the_tokens(tmp_path: Path) -> None:
    cfg = _config()
    cfg.optim.freeze = ["encoder", "compressor"]
    tr = _trainer(cfg, tmp_path / "run")
    before = {k: v.clone() for k, v in tr.codec.state_dict().items()}
    probe = torch.from_numpy(_synth(0.64, 150.0, 7))[None]
    tr.codec.eval()
    with torch.no_grad():
        toks_before = tr.codec.sig_to_toks(probe)[0]
    tr.codec.train()
    tr.fit(4)
    after = tr.codec.state_dict()
    for k, v in before.items():
        if k.startswith(("encoder.", "compressor.")):
            assert torch.equal(v, after[k]), k
    assert any(not torch.equal(v, after[k]) for k, v in before.items()
               if k.startswith("decoder."))
    tr.codec.eval()
    with torch.no_grad():
        assert torch.equal(tr.codec.sig_to_toks(probe)[0], toks_before)
    card = (export_model(tmp_path / "run", tmp_path / "model") / "MODEL_CARD.md").read_text()
    assert "encoder, compressor frozen" in card and "Joint end-to-end" not in card


def test_freeze_names_an_unknown_module(tmp_path: Path) -> None:
    cfg = _config()
    cfg.optim.freeze = ["encodr"]
    with pytest.raises(ValueError, match="encodr"):
        _trainer(cfg, tmp_path / "run")
