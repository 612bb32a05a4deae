"""Training a bitrate ladder: the shape-growing warm start starts at the single-group model,
the held rows keep the first group's tokens, and random truncation trains and logs each rung."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model import load_codec
from focalcli.model.testing import TINY_CONFIG, save_tiny_model, tiny_grouped_config
from focalcli.train.config import TrainConfig
from focalcli.train.data import CropSampler, DataConfig
from focalcli.train.loop import Trainer, rung_mask


def _synth(seconds: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    sig = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 10))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t)) ** 2
    return (0.05 * sig * env + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def _trainer(tmp_path: Path, source: Path, **loss: object) -> Trainer:
    cfg = TrainConfig(name="tiny-ladder", seed=0, steps=6, batch_size=4, threads=1,
                      model=tiny_grouped_config(4), init_from=str(source),
                      init_random_growth=["compressor.out_proj"])
    cfg.data = DataConfig(manifest=None, crop_seconds=0.32, noise_prob=0.0)
    cfg.optim.lr = 3e-3
    cfg.optim.warmup_steps = 1
    cfg.optim.freeze = ["encoder", "compressor.layers"]
    cfg.optim.freeze_leading = {"compressor.out_proj.weight": 8, "compressor.out_proj.bias": 8}
    cfg.loss.quant_ramp = (0, 1)
    cfg.loss.fft_sizes = [256, 512]
    cfg.loss.n_mels = [32, 64]
    cfg.loss.group_entropy = 0.1
    cfg.loss.rung_groups = [1, 2, 4]
    cfg.loss.rung_probs = [0.4, 0.3, 0.3]
    for k, v in loss.items():
        setattr(cfg.loss, k, v)
    signals = [_synth(1.0, f0, i) for i, f0 in enumerate((110.0, 180.0, 240.0))]
    sampler = CropSampler(cfg.data, signals, ["a", "b", "b"])
    return Trainer(cfg, tmp_path / "run", sampler=sampler, log=lambda _msg: None)


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    return save_tiny_model(tmp_path, seed=2, name="single", config=TINY_CONFIG)


def test_rung_mask() -> None:
    from focalcli.model.codec import FocalCodec

    c = FocalCodec(tiny_grouped_config(4))
    mask = rung_mask(torch.tensor([1, 4, 2]), c)
    assert mask.shape == (3, 1, 32)
    assert mask[0, 0].tolist() == [1.0] * 8 + [0.0] * 24
    assert mask[1, 0].tolist() == [1.0] * 32
    assert mask[2, 0].tolist() == [1.0] * 16 + [0.0] * 16


def test_warm_start_begins_at_the_single_group_model(tmp_path: Path, source: Path) -> None:
    tr = _trainer(tmp_path, source)
    single = load_codec(str(source))
    codec = tr.codec.eval()
    w = codec.compressor.out_proj.weight
    assert w.shape == (32, 32) and torch.equal(w[:8], single.compressor.out_proj.weight)
    assert w[8:].abs().sum() > 0  # the new rows are random, not zero
    assert not codec.decompressor.in_proj.weight[:, 8:].any()  # the new columns are zero
    sig = torch.from_numpy(_synth(0.64, 150.0, 9))[None]
    with torch.no_grad():
        t1, _ = single.sig_to_toks(sig)
        want, _ = single.toks_to_sig(t1)
        toks, _ = codec.sig_to_toks(sig)
        assert toks.shape == (1, t1.shape[1], 4) and torch.equal(toks[..., 0], t1)
        for g in (1, 2, 4):
            got, _ = codec.toks_to_sig(toks[..., :g])
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_training_keeps_group_one_and_logs_each_rung(tmp_path: Path, source: Path) -> None:
    tr = _trainer(tmp_path, source)
    held_w = tr.codec.compressor.out_proj.weight.detach()[:8].clone()
    new_w = tr.codec.compressor.out_proj.weight.detach()[8:].clone()
    cols = tr.codec.decompressor.in_proj.weight.detach()[:, 8:].clone()
    seen: set[str] = set()
    for _ in range(6):
        logs = tr.train_step()
        seen |= {k for k in logs if k.startswith("mel") and k != "mel"}
    assert seen <= {"mel1", "mel2", "mel4"} and len(seen) >= 2
    w = tr.codec.compressor.out_proj.weight.detach()
    assert torch.equal(w[:8], held_w)  # held despite weight decay
    assert not torch.equal(w[8:], new_w)  # the new groups' rows learn
    assert not torch.equal(tr.codec.decompressor.in_proj.weight.detach()[:, 8:], cols)


def test_bad_rung_settings_are_refused(tmp_path: Path, source: Path) -> None:
    with pytest.raises(ValueError, match="rung_groups"):
        _trainer(tmp_path, source, rung_groups=[1, 5], rung_probs=[0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        _trainer(tmp_path, source, rung_probs=[0.5, 0.3, 0.3])


def test_with_everything_old_held_rung_one_stays_the_warm_start(tmp_path: Path,
                                                                source: Path) -> None:
    """The bundled ladder's recipe: only the new rows and columns learn, so rung 1 decodes
    sample for sample as the single-group model after training, and rung 4 differs."""
    tr = _trainer(tmp_path, source, rung_groups=[2, 4], rung_probs=[0.5, 0.5])
    tr.cfg.optim.freeze = ["encoder", "compressor.layers", "decompressor.in_proj.bias",
                           "decompressor.layers", "decompressor.refiner", "decoder"]
    tr.cfg.optim.freeze_leading = {"compressor.out_proj.weight": 8,
                                   "compressor.out_proj.bias": 8,
                                   "decompressor.in_proj.weight": [1, 8]}
    tr = Trainer(tr.cfg, tmp_path / "run2", sampler=tr.sampler, log=lambda _msg: None)
    for _ in range(4):
        tr.train_step()
    single = load_codec(str(source))
    sig = torch.from_numpy(_synth(0.64, 150.0, 9))[None]
    with torch.no_grad():
        t1, _ = single.sig_to_toks(sig)
        want, _ = single.toks_to_sig(t1)
        codec = tr.codec.eval()
        toks, _ = codec.sig_to_toks(sig)
        got1, _ = codec.toks_to_sig(toks[..., :1])
        got4, _ = codec.toks_to_sig(toks)
    assert torch.equal(toks[..., 0], t1)
    torch.testing.assert_close(got1, want, atol=1e-5, rtol=0)
    assert not torch.allclose(got4, want, atol=1e-4)
    with pytest.raises(ValueError, match="no leading 9 along dim 1"):
        tr.cfg.optim.freeze_leading = {"decompressor.in_proj.weight": [1, 9]}
        tr.cfg.optim.freeze = []
        cfg = tr.cfg
        cfg.model = tiny_grouped_config(1)
        cfg.init_from = None
        Trainer(cfg, tmp_path / "run3", sampler=tr.sampler, log=lambda _msg: None)


def test_cross_group_balance_penalises_a_group_that_repeats_another() -> None:
    from focalcli.model.bsq import BinarySphericalQuantizer
    from focalcli.train.losses import bit_balance_loss

    q = BinarySphericalQuantizer(256, num_groups=2)
    torch.manual_seed(0)
    first = torch.randn(4, 50, 8)
    repeated = q.normalize(torch.cat([first, first], dim=-1))
    fresh = q.normalize(torch.cat([first, torch.randn(4, 50, 8)], dim=-1))
    assert (bit_balance_loss(repeated, 1.0, group_dim=8)
            > 2 * bit_balance_loss(fresh, 1.0, group_dim=8))
    # one group: the same as the plain term
    one = q.normalize(torch.cat([first, first], dim=-1))[..., :8]
    assert torch.equal(bit_balance_loss(one, 1.0, group_dim=8), bit_balance_loss(one, 1.0))
