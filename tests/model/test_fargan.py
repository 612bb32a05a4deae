"""FARGAN vocoder: shapes, streaming == offline, fast path == reference, Opus's arithmetic."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model.fargan import (
    FARGAN,
    FRAME_SIZE,
    PITCH_MAX_PERIOD,
    PRIME_FRAMES,
    FARGANConfig,
    FARGANState,
    deemphasis,
    pitch_feature_to_period,
)

TINY = FARGANConfig(pitch_embed_dim=4, cond_dense1_dim=8, cond_conv_dim=8, cond_dim=8,
                    fwc0_dim=16, gru_dims=(12, 8, 8), skip_dim=8)


def tiny_fargan(seed: int = 0) -> FARGAN:
    torch.manual_seed(seed)
    m = FARGAN(TINY).eval()
    with torch.no_grad():  # larger gains than the default init, so the recursion matters
        m.sig.gain_dense.bias.fill_(-2.0)
    return m


def random_features(batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    f = 0.5 * torch.randn(batch, frames, 20, generator=g)
    f[..., 18] = torch.empty(batch, frames).uniform_(-1.2, 0.9, generator=g)  # 31..294 samples
    return f


def test_shapes_and_range() -> None:
    m = tiny_fargan()
    f = random_features(2, PRIME_FRAMES + 7)
    with torch.no_grad():
        sig, state = m(f)
    assert sig.shape == (2, 7 * FRAME_SIZE)
    assert torch.isfinite(sig).all() and sig.abs().max() > 0
    assert state.excitation.shape == (2, PITCH_MAX_PERIOD)
    assert [g.shape[1] for g in state.gru] == list(TINY.gru_dims)


@pytest.mark.parametrize("fast", [True, False])
def test_streaming_equals_offline(fast: bool) -> None:
    m = tiny_fargan()
    m.fast_inference = fast
    f = random_features(2, PRIME_FRAMES + 11)
    with torch.no_grad():
        state = m.prime(f[:, :PRIME_FRAMES])
        whole, end_whole = m.features_to_sig(f[:, PRIME_FRAMES:], state)
        parts, s = [], state
        t = PRIME_FRAMES
        for n in (1, 3, 0, 2, 4, 1):
            y, s = m.features_to_sig(f[:, t : t + n], s)
            assert y.shape == (2, n * FRAME_SIZE)
            parts.append(y)
            t += n
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(s.excitation, end_whole.excitation, rtol=0, atol=1e-6)
    # features_to_sig leaves the state it was given untouched: rerunning gives the same output.
    with torch.no_grad():
        again, _ = m.features_to_sig(f[:, PRIME_FRAMES:], state)
    torch.testing.assert_close(again, whole, rtol=0, atol=0)


def test_fast_path_equals_reference() -> None:
    m = tiny_fargan()
    f = random_features(3, PRIME_FRAMES + 6)
    with torch.no_grad():
        fast, s_fast = m(f)
    reference, s_ref = m(f)  # autograd on: the readable per-sub-frame reference path
    assert reference.requires_grad
    torch.testing.assert_close(fast, reference.detach(), rtol=0, atol=1e-5)
    for a, b in zip(s_fast.gru, s_ref.gru, strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-5)


def test_gradients_reach_features() -> None:
    m = tiny_fargan()
    f = random_features(1, PRIME_FRAMES + 3).requires_grad_(True)
    sig, _ = m(f)
    sig.pow(2).sum().backward()
    assert f.grad is not None and f.grad[:, PRIME_FRAMES:].abs().sum() > 0


def opus_pitch_positions(period: int) -> list[int]:
    """Opus's loop: pos starts at 256 - period - 2, wraps back by period on reaching 256."""
    out, pos = [], PITCH_MAX_PERIOD - period - 2
    for _ in range(44):
        out.append(max(0, pos))
        pos += 1
        if pos == PITCH_MAX_PERIOD:
            pos -= period
    return out


def test_pitch_positions_follow_opus() -> None:
    m = tiny_fargan()
    periods = torch.arange(1, 300)
    got = m.sig.pitch_positions(periods)
    for p, row in zip(periods.tolist(), got.tolist(), strict=True):
        assert row == opus_pitch_positions(p), p


def test_period_from_pitch_feature() -> None:
    p = torch.tensor([-1.5, 0.0, 0.5, 1.5])
    assert pitch_feature_to_period(p).tolist() == [256, round(256 / 2**1.5), 64, 32]


def test_deemphasis_matches_recursion() -> None:
    x = torch.randn(2, 173, dtype=torch.float64)
    mem = torch.tensor([0.3, -0.1], dtype=torch.float64)
    y, new_mem = deemphasis(x, mem)
    ref = torch.empty_like(x)
    prev = mem.clone()
    for i in range(x.shape[1]):
        prev = x[:, i] + 0.85 * prev
        ref[:, i] = prev
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(new_mem, ref[:, -1])


def test_prime_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError):
        tiny_fargan().prime(torch.zeros(1, 4, 20))


def test_opus_arithmetic_changes_little() -> None:
    m = tiny_fargan()
    f = random_features(1, PRIME_FRAMES + 2)
    with torch.no_grad():
        plain, _ = m(f)
        m.set_opus_arithmetic(True)
        opus, _ = m(f)
    assert not torch.equal(plain, opus)
    assert (plain - opus).abs().max() < 0.05 * plain.abs().max()


def load_converter():  # scripts/ is not a package
    path = Path(__file__).resolve().parents[2] / "scripts" / "fargan_weights.py"
    spec = importlib.util.spec_from_file_location("fargan_weights", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_converter_unpacks_8x4_blocks() -> None:
    conv = load_converter()
    n_in, n_out = 8, 16
    w = np.arange(n_out * n_in).reshape(n_out, n_in) % 7 - 3  # int8 weight [out, in]
    blocks = w.reshape(n_out // 8, 8, n_in // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    scale = np.linspace(1e-3, 2e-3, n_out)
    bias = np.linspace(-1, 1, n_out)
    eff = 127 * scale[:, None] * w

    def c_list(values: np.ndarray) -> str:
        return ",".join(repr(float(v)) for v in values)

    text = "\n".join([
        f"static const opus_int8 lay_weights_int8[{w.size}] = {{{','.join(map(str, blocks))}}};",
        f"static const float lay_scale[{n_out}] = {{{c_list(scale)}}};",
        f"static const float lay_bias[{n_out}] = {{{c_list(bias)}}};",
        f"static const float lay_subias[{n_out}] = {{{c_list(bias - eff.sum(1))}}};",
    ])
    arrays = conv.parse_c_arrays(text)
    weight, b, int8 = conv.layer_to_tensors(arrays, "lay", n_in, n_out)
    assert int8
    np.testing.assert_allclose(weight, eff, rtol=1e-6)
    np.testing.assert_allclose(b, bias, rtol=1e-6)
    arrays["lay_subias"] = arrays["lay_subias"] + 1.0
    with pytest.raises(ValueError):
        conv.layer_to_tensors(arrays, "lay", n_in, n_out)


CACHE = Path.home() / ".cache" / "focal" / "fargan"
# Written by `bench/bench_fargan.py parity` (after `PLAIN_C=1 scripts/get-opus-fargan.sh`).
PARITY = CACHE / "parity-dev" / "work" / "1183-124566-0000"


@pytest.mark.skipif(not (CACHE / "fargan.safetensors").exists()
                    or not PARITY.with_suffix(".plainc.s16").exists(),
                    reason="converted FARGAN weights / Opus reference output not present")
def test_converted_weights_match_opus_plain_c() -> None:
    """Opus's scalar-C build (see docs/fargan.md) and ours in Opus arithmetic, sample-exact."""
    from safetensors.torch import load_file

    m = FARGAN().eval()
    m.load_state_dict(load_file(str(CACHE / "fargan.safetensors")))
    m.set_opus_arithmetic(True)
    feats = np.fromfile(PARITY.with_suffix(".f32"), dtype=np.float32).reshape(-1, 36)[:15, :20]
    ref = np.fromfile(PARITY.with_suffix(".plainc.s16"), dtype=np.int16)[: 10 * FRAME_SIZE]
    with torch.no_grad():
        sig, _ = m(torch.from_numpy(feats.copy())[None])
    ours = np.floor(0.5 + np.clip(32768 * sig[0].double().numpy(), -32767, 32767))
    assert np.abs(ours - ref).max() <= 1
    assert math.isclose(float(np.abs(ref).max()), float(np.abs(ours).max()), abs_tol=1)
    assert isinstance(m.initial_state(1), FARGANState)
