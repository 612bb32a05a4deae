"""fargan_export: a feature-ladder probe checkpoint + FARGAN + PitchDNN weights -> a model folder
that load_codec reads, codes as the probe does, and carries a card with both licences.

The probe and the weight files are small random stand-ins written here; the analysis is a
TEST DOUBLE (``FakeAnalysis``, with a ``pitchdnn`` submodule where the real analysis keeps
PitchDNN), so the test needs neither Opus nor the real analysis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from focalcli.model import feature_codec, load_codec
from focalcli.model.fargan import FARGAN
from focalcli.train import fargan_export
from focalcli.train.feature_ladder_probe import (
    FeatureLadderCodec,
    HybridLadderCodec,
    PitchLadderCodec,
)


class FakeAnalysis(nn.Module):
    """TEST DOUBLE of LPCNetAnalysis' interface: a random linear map of each 160-sample frame
    to 20 values; its weights live under ``pitchdnn`` as the real analysis' PitchDNN's do."""

    def __init__(self) -> None:
        super().__init__()
        self.pitchdnn = nn.Linear(160, 20)

    def initial_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, 0)

    def sig_to_feats(self, sig: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        B, N = sig.shape
        return torch.tanh(self.pitchdnn(sig.reshape(B, N // 160, 160))), state


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    monkeypatch.setattr(feature_codec, "make_analysis", lambda **_: FakeAnalysis())
    monkeypatch.setattr(fargan_export, "RUNS", tmp_path / "runs")
    # keep the card's dev figures out of it: no feature cache
    monkeypatch.setattr(fargan_export, "dev_error", lambda probe: [0.3, 0.2, 0.1])
    torch.manual_seed(0)
    probe = FeatureLadderCodec(dim=16, gru_dim=24, delay_tokens=1)
    with torch.no_grad():
        probe.mean.copy_(torch.randn(40))
        probe.std.copy_(torch.rand(40) + 0.5)
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    torch.save({"codec": probe.state_dict(), "opt": {}, "step": 123, "delay_tokens": 1,
                "dim": 16, "gru_dim": 24}, run / "last.pt")
    fargan = tmp_path / "fargan.safetensors"
    save_file({k: v.contiguous() for k, v in FARGAN().state_dict().items()}, str(fargan))
    pitchdnn = tmp_path / "pitchdnn.safetensors"
    save_file({k: v.contiguous() for k, v in FakeAnalysis().pitchdnn.state_dict().items()},
              str(pitchdnn))
    yield {"fargan": fargan, "pitchdnn": pitchdnn, "out": tmp_path / "out" / "fl-tiny"}


def test_export_loads_and_codes_as_the_probe(inputs: dict[str, Path]) -> None:
    out = inputs["out"]
    code = fargan_export.main(["--run", "tiny", "--out", str(out), "--chunk-tokens", "1",
                               "--fargan", str(inputs["fargan"]),
                               "--pitchdnn", str(inputs["pitchdnn"])])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors",
                                               "MODEL_CARD.md"}
    codec = load_codec(str(out))
    assert codec.name == "fl-tiny" and codec.rungs == [12, 24, 48]
    assert codec.chunk_size == 320 and codec.latency_ms == pytest.approx((320 + 320 + 240) / 16)
    ck = torch.load(fargan_export.RUNS / "tiny" / "last.pt", weights_only=True)
    probe = FeatureLadderCodec(16, 24, delay_tokens=1)
    probe.load_state_dict(ck["codec"])
    fargan_export.check_against_probe(codec, probe.eval(), seed=5)
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("# fl-tiny\n\nLicence: CC-BY-4.0")
    for text in ("BSD-3-Clause", "Copyright 2001-2023 Xiph.Org, Skype Limited, Octasic,",
                 "Neither the name of Internet Society, IETF or IETF Trust",
                 "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS",
                 "decoder delay 1 token (20 ms)", "123 steps", "LibriSpeech", "2 groups 0.200"):
        assert text in card, text


def test_a_missing_input_is_one_line(inputs: dict[str, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = str(inputs["out"])
    assert fargan_export.main(["--run", "nope", "--out", out]) == 1
    assert fargan_export.main(["--run", "tiny", "--out", out, "--fargan",
                               str(inputs["fargan"]), "--pitchdnn", "/nonexistent"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "train the probe run 'nope' first" in lines[0]
    assert "scripts/pitchdnn_weights.py" in lines[1]
    assert not Path(out).exists()


def test_weights_that_do_not_fit_are_refused(inputs: dict[str, Path]) -> None:
    wrong = inputs["pitchdnn"].with_name("wrong.safetensors")
    save_file({"weight": torch.zeros(3, 3)}, str(wrong))
    with pytest.raises(fargan_export.ExportError, match="do not fit"):
        fargan_export.export("tiny", inputs["out"], fargan_path=inputs["fargan"],
                             pitchdnn_path=wrong)


def test_a_pitch_and_correlation_run_exports_with_its_scalar_fields(
        inputs: dict[str, Path]) -> None:
    torch.manual_seed(1)
    probe = PitchLadderCodec(dim=16, gru_dim=24, delay_tokens=1, pitch_bits=5, corr_bits=2)
    with torch.no_grad():
        probe.mean.copy_(torch.randn(40) * 0.1)
        probe.std.copy_(torch.rand(40) * 0.3 + 0.2)
    run = fargan_export.RUNS / "tiny-pitch"
    run.mkdir(parents=True)
    torch.save({"codec": probe.state_dict(), "opt": {}, "step": 7, "delay_tokens": 1,
                "dim": 16, "gru_dim": 24, "pitch_bits": 5, "corr_bits": 2, "steps": 7,
                "voiced_pitch_weight": 10.0, "speeds": [0.9, 1.1],
                "copies": ["train-tilt3", "debian"]}, run / "last.pt")
    out = inputs["out"].with_name("fl-pitch")
    fargan_export.export("tiny-pitch", out, fargan_path=inputs["fargan"],
                         pitchdnn_path=inputs["pitchdnn"])
    codec = load_codec(str(out))
    assert codec.config["compressor_config"]["scalars"] == [[18, -1.55, 1.55, 5],
                                                            [19, -0.5, 0.5, 2]]
    assert codec.rungs == [12, 24, 48]
    fargan_export.check_against_probe(codec, probe.eval(), seed=9)
    # The group-0 token's top 5 bits are the pitch index, as the probe makes them.
    feats = probe.mean + probe.std * torch.randn(1, 20, 40)
    with torch.inference_mode():
        lats, _ = codec.feats_to_lats(feats)
        toks = codec.lats_to_toks(lats)
    step = 3.1 / 31
    pitch = 0.5 * (feats[..., 18] + feats[..., 38])
    index = ((pitch + 1.55) / step).round().clamp(0, 31).long()
    assert torch.equal(toks[..., 0] >> 7, index)
    card = (out / "MODEL_CARD.md").read_text()
    assert "Scalar fields at the start of group 0" in card
    assert ("--dim 16 --gru-dim 24 --steps 7 --pitch-bits 5 --corr-bits 2 "
            "--voiced-pitch-weight 10 --speeds 0.9,1.1 --copies train-tilt3,debian`") in card
    assert "19 [-0.5, 0.5] 2 bits." in card
    assert ("its copies played at speeds 0.9, 1.1, and from the caches `train-tilt3`, "
            "`debian` (`vocoder_probe cache --tilt` / `--folder`)): ") in card


def test_a_hybrid_run_exports_on_its_base_model(inputs: dict[str, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from focalcli.model.testing import save_tiny_model, tiny_base_config

    config = tiny_base_config()  # made a 12-bit model, as the exporter's groups are
    config["quantizer_config"] = {"codebook_size": 4096}
    config["compressor_config"]["output_dim"] = 12
    config["decompressor_config"]["input_dim"] = 12
    base = save_tiny_model(inputs["out"].parent, seed=2, name="tiny-base", config=config)
    torch.manual_seed(3)
    probe = HybridLadderCodec(dim=16, gru_dim=24, delay_tokens=1, pitch_bits=5, corr_bits=2)
    with torch.no_grad():
        probe.mean.copy_(torch.randn(40) * 0.1)
        probe.std.copy_(torch.rand(40) * 0.3 + 0.2)
    run = fargan_export.RUNS / "tiny-hybrid"
    run.mkdir(parents=True)
    torch.save({"codec": probe.state_dict(), "opt": {}, "step": 9, "delay_tokens": 1,
                "dim": 16, "gru_dim": 24, "pitch_bits": 5, "corr_bits": 2, "hybrid": True,
                "init": "focal-small-hybrid-2", "lr": 3e-4}, run / "last.pt")
    monkeypatch.setattr(fargan_export, "dev_error", lambda probe: [0.2, 0.1])
    out = inputs["out"].with_name("hy-tiny")
    fargan_export.export("tiny-hybrid", out, fargan_path=inputs["fargan"],
                         pitchdnn_path=inputs["pitchdnn"], base=str(base))
    codec = load_codec(str(out))
    assert codec.rungs == [12, 24, 48] and codec.latency_ms == pytest.approx(80 + 20 + 15)
    fargan_export.check_hybrid_against_probe(codec, probe.eval(), seed=4)
    # group 0 is the base model's token
    base_codec = load_codec(str(base))
    x = 0.1 * torch.randn(1, 2560)
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(x)
        base_toks, _ = base_codec.sig_to_toks(x)
    assert torch.equal(toks[..., 0], base_toks)
    card = (out / "MODEL_CARD.md").read_text()
    assert "Hybrid ladder on `tiny-base`" in card and "start of group 1" in card
    assert "--pitch-bits 5 --corr-bits 2 --hybrid --init focal-small-hybrid-2 --lr 0.0003`" in card
    assert "(9 steps, starting from the trained weights of `focal-small-hybrid-2`, of" in card
    # a base that is not one 12-bit group is refused in one line
    with pytest.raises(fargan_export.ExportError, match="one group of 12 bits"):
        fargan_export.export("tiny-hybrid", out, fargan_path=inputs["fargan"],
                             pitchdnn_path=inputs["pitchdnn"],
                             base=str(save_tiny_model(inputs["out"].parent, name="b8",
                                                      config=tiny_base_config())))


def test_a_hybrid_on_a_bundled_base_references_it(inputs: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """On the bundled focal-small the folder holds only the hybrid's own weights; loaded, its
    0.6 kbit/s rung is focal-small's tokens and focal-small's audio, delayed."""
    import json

    import numpy as np

    from focalcli.engine.offline import decode_tokens, encode_signal

    torch.manual_seed(4)
    probe = HybridLadderCodec(dim=16, gru_dim=16, delay_tokens=2, pitch_bits=6, corr_bits=3)
    run = fargan_export.RUNS / "tiny-hybrid-v6"
    run.mkdir(parents=True)
    torch.save({"codec": probe.state_dict(), "opt": {}, "step": 1, "delay_tokens": 2,
                "dim": 16, "gru_dim": 16, "pitch_bits": 6, "corr_bits": 3, "hybrid": True},
               run / "last.pt")
    monkeypatch.setattr(fargan_export, "dev_error", lambda probe: None)
    out = inputs["out"].with_name("hy-v6")
    fargan_export.export("tiny-hybrid-v6", out, fargan_path=inputs["fargan"],
                         pitchdnn_path=inputs["pitchdnn"], base="focal-small")
    config = json.loads((out / "config.json").read_text())
    assert config["base_model"] == "focal-small"
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any(k.startswith(("encoder.wavlm.", "decoder.vocos.")) for k in keys)
    codec, v6 = load_codec(str(out)), load_codec("focal-small")
    assert codec.weights_hash not in (v6.weights_hash, "0" * 16)
    x = (0.1 * np.sin(np.arange(16000) * 2 * np.pi * 180 / 16000)).astype(np.float32)
    toks = encode_signal(codec, x[None])
    np.testing.assert_array_equal(toks[..., 0], encode_signal(v6, x[None]))
    got = decode_tokens(codec, toks[..., :1])
    want = decode_tokens(v6, toks[..., 0])
    lag = codec.delay_samples
    np.testing.assert_array_equal(got[:, lag:], want[:, : want.shape[1] - lag])
    # a config whose base does not fit is refused in one line
    config["encoder_config"]["wavlm_config"]["num_layers"] = 1
    (out / "config.json").write_text(json.dumps(config))
    from focalcli.model.loading import ModelLoadError

    with pytest.raises(ModelLoadError, match="base_model focal-small does not fit: its "
                                             "encoder_config differs"):
        load_codec(str(out))
