"""LPCNet feature analysis: shapes, streaming == offline, batch independence, the DSP pieces
against direct forms, cepstral level and band placement, and parity with Opus's dump_data."""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model.lpcnet_analysis import (
    DEFAULT_WEIGHTS,
    FRAME_SIZE,
    HP_A,
    HP_B,
    NB_BANDS,
    Int8Linear,
    LPCNetAnalysis,
    biquad_blocks,
    dct_table,
    half_window,
    levinson,
    pitch_to_period,
    run_biquad,
    spectral_floor,
)

OPUS = Path.home() / ".cache" / "focal" / "opus" / "opus-1.5.2"
DUMP_DATA = OPUS / "dump_data"
SR = 16000


def random_analysis(seed: int = 0) -> LPCNetAnalysis:
    """An analysis with a random (but well-scaled) PitchDNN."""
    g = torch.Generator().manual_seed(seed)
    m = LPCNetAnalysis().eval()
    with torch.no_grad():
        for mod in m.pitchdnn.modules():
            if isinstance(mod, Int8Linear):
                n_out, n_in = mod.weight_int8.shape
                mod.weight_int8.copy_(torch.randint(-60, 61, (n_out, n_in), generator=g).float())
                mod.scale.fill_(2.0 / (127.0 * 60.0 * math.sqrt(n_in)))
                mod.bias.copy_(0.1 * torch.randn(n_out, generator=g))
                mod.set_subias()
            elif isinstance(mod, torch.nn.Conv2d):
                assert mod.bias is not None
                mod.weight.copy_(0.3 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
    return m


def speechlike(seconds: float, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """Harmonic signal with vibrato and level changes, then a noise burst (float32, +-1)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25) if k * f0 * 1.2 < 7500)
    x = x * (0.2 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    x[int(0.7 * n):] = 0.05 * rng.standard_normal(n - int(0.7 * n))
    return (x + 1e-3 * rng.standard_normal(n)).astype(np.float32)


def log_bands(feats: torch.Tensor) -> torch.Tensor:
    """Cepstrum (..., 20) -> the floored log10 band energies it encodes (..., 18)."""
    c = feats[..., :NB_BANDS].double().clone()
    c[..., 0] += 4.0
    t = torch.from_numpy(dct_table() * math.sqrt(2.0 / NB_BANDS))
    return c @ t.T


def test_shapes_and_tail():
    m = random_analysis()
    x = torch.from_numpy(speechlike(0.5))[None].repeat(3, 1)
    f, st = m.sig_to_feats(x[:, :4000])  # 25 frames
    assert f.shape == (3, 25, 20) and f.dtype == torch.float32
    assert torch.isfinite(f).all()
    f2, _ = m.sig_to_feats(x[:, :4000 + 100])  # a partial frame is ignored
    assert torch.equal(f, f2)
    empty, st2 = m.sig_to_feats(x[:, :100], st)
    assert empty.shape == (3, 0, 20) and st2 is st


def test_silence_and_bad_input():
    """Digital silence: every band at log10(1e-2) = -2, so c0 = -2 sqrt(18) - 4 and the shape
    coefficients vanish; zero correlation squashes to log(2) / log(1 + e^5)."""
    m = random_analysis()
    f, st = m.sig_to_feats(torch.zeros(2, 1600))
    assert torch.allclose(f[..., 0], torch.tensor(-2.0 * math.sqrt(18.0) - 4.0), atol=1e-3)
    assert f[..., 1:NB_BANDS].abs().max() < 1e-4
    corr0 = math.log(2.0) / math.log(1.0 + math.exp(5.0)) - 0.5
    assert torch.allclose(f[..., 19], torch.tensor(corr0), atol=1e-6)
    with pytest.raises(ValueError):
        m.sig_to_feats(torch.zeros(3, 160), st)  # state for 2 rows
    with pytest.raises(ValueError):
        m.sig_to_feats(torch.zeros(160))


@pytest.mark.parametrize("chunks", [[160] * 12 + [3200], [480, 1600, 160, 3360, 1760]])
def test_streaming_equals_offline(chunks):
    m = random_analysis(1)
    x = torch.from_numpy(speechlike(sum(chunks) / SR, seed=2))[None]
    full, _ = m.sig_to_feats(x)
    st = m.initial_state(1)
    parts, pos = [], 0
    for c in chunks:
        f, st = m.sig_to_feats(x[:, pos:pos + c], st)
        parts.append(f)
        pos += c
    streamed = torch.cat(parts, dim=1)
    assert streamed.shape == full.shape
    torch.testing.assert_close(streamed, full, atol=0, rtol=0)


def test_batch_rows_independent():
    """A row's features do not depend on the other rows of its batch: bit for bit at the same
    batch size. Across batch sizes PitchDNN's float rounding may differ (the kernels depend on
    the size and the CPU), which can flip a near-tie in a random PitchDNN's pitch decision, so
    there only the cepstrum is compared."""
    m = random_analysis(2)
    a = torch.from_numpy(speechlike(1.0, seed=3, f0=110.0))
    b = torch.from_numpy(speechlike(1.0, seed=4, f0=220.0))
    c = torch.from_numpy(speechlike(1.0, seed=5, f0=170.0))
    ab, _ = m.sig_to_feats(torch.stack([a, b]))
    ac, _ = m.sig_to_feats(torch.stack([a, c]))
    cb, _ = m.sig_to_feats(torch.stack([c, b]))
    torch.testing.assert_close(ab[0], ac[0], atol=0, rtol=0)
    torch.testing.assert_close(ab[1], cb[1], atol=0, rtol=0)
    fa, _ = m.sig_to_feats(a[None])
    fb, _ = m.sig_to_feats(b[None])
    torch.testing.assert_close(ab[0, :, :18], fa[0, :, :18], atol=1e-6, rtol=0)
    torch.testing.assert_close(ab[1, :, :18], fb[0, :, :18], atol=1e-6, rtol=0)
    assert (ab[0] - ab[1]).abs().max() > 0.1


def test_level_shifts_c0_only():
    """+6 dB multiplies every band energy by 4: c0 rises by log10(4) * sqrt(18), the shape
    coefficients stay (bands far above the 1e-2 floor)."""
    m = random_analysis()
    rng = np.random.default_rng(5)
    x = torch.from_numpy((0.05 * rng.standard_normal(SR)).astype(np.float32))[None]
    lo, _ = m.sig_to_feats(x)
    hi, _ = m.sig_to_feats(2.0 * x)
    d = (hi - lo)[0, 5:]  # past the DC filter's start-up
    assert abs(d[:, 0].mean().item() - math.log10(4.0) * math.sqrt(NB_BANDS)) < 5e-3
    assert d[:, 1:NB_BANDS].abs().max() < 5e-3


@pytest.mark.parametrize(("freq", "band"), [(400.0, 2), (1000.0, 5), (2400.0, 10), (6800.0, 16)])
def test_tone_peaks_in_its_band(freq, band):
    m = random_analysis()
    t = np.arange(SR) / SR
    x = torch.from_numpy((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32))[None]
    f, _ = m.sig_to_feats(x)
    ly = log_bands(f[0, 5:])
    assert (ly.argmax(-1) == band).all()
    # The peak band sits well above its neighbours' floor-limited values.
    assert (ly[:, band] - ly.median(-1).values).min() > 2.0


def test_biquad_blocks_match_sample_loop():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(5 * FRAME_SIZE) * 1000.0
    y_ref = np.empty_like(x)
    m0 = m1 = 0.0
    b, a = HP_B, HP_A
    for i, xi in enumerate(x):
        yi = xi + m0
        m0 = m1 + b[0] * xi - a[0] * yi
        m1 = b[1] * xi - a[1] * yi
        y_ref[i] = yi
    hm, om, gm, pm = (torch.from_numpy(v) for v in biquad_blocks(b, a, FRAME_SIZE))
    mats = (hm, om, gm, pm)
    xt = torch.from_numpy(x).view(1, 5, FRAME_SIZE)
    y, s = run_biquad(xt[:, :2], torch.zeros(1, 2, dtype=torch.float64), mats)
    y2, s2 = run_biquad(xt[:, 2:], s, mats)
    y_all = torch.cat([y, y2], dim=1).reshape(-1).numpy()
    np.testing.assert_allclose(y_all, y_ref, atol=1e-8 * np.abs(y_ref).max())
    np.testing.assert_allclose(s2[0].numpy(), [m0, m1], atol=1e-8 * np.abs(y_ref).max())


def test_spectral_floor_matches_recursion():
    g = torch.Generator().manual_seed(7)
    ly = 6.0 * torch.randn(200, NB_BANDS, generator=g) - 1.0
    ref = torch.empty_like(ly)
    log_max = torch.full((200,), -2.0)
    follow = torch.full((200,), -2.0)
    for i in range(NB_BANDS):
        v = torch.maximum(torch.maximum(log_max - 8.0, follow - 2.5), ly[:, i])
        ref[:, i] = v
        log_max = torch.maximum(log_max, v)
        follow = torch.maximum(follow - 2.5, v)
    torch.testing.assert_close(spectral_floor(ly), ref, atol=1e-5, rtol=0)


def test_levinson_solves_yule_walker():
    rng = np.random.default_rng(8)
    acs = []
    for _ in range(5):
        x = np.convolve(rng.standard_normal(4000), rng.standard_normal(6), mode="same")
        acs.append([np.dot(x[: len(x) - k], x[k:]) for k in range(17)])
    ac = torch.tensor(acs, dtype=torch.float32)
    lpc = levinson(ac).double().numpy()
    for row, a in zip(acs, lpc, strict=True):
        r = np.array(row)
        toeplitz = r[np.abs(np.arange(16)[:, None] - np.arange(16)[None, :])]
        ref = -np.linalg.solve(toeplitz, r[1:])
        np.testing.assert_allclose(a, ref, atol=2e-3)
    # The 30 dB stop: a perfectly predictable (sinusoid) autocorrelation stops early.
    k = np.arange(17)
    ac_sine = torch.tensor(np.cos(0.3 * k) + 1e-6 * (k == 0), dtype=torch.float32)[None]
    a = levinson(ac_sine)[0]
    assert (a[3:] == 0).all() and a[0] != 0


def test_int8_linear_float_form_close():
    g = torch.Generator().manual_seed(9)
    lin = Int8Linear(64, 32)
    with torch.no_grad():
        lin.weight_int8.copy_(torch.randint(-127, 128, (32, 64), generator=g).float())
        lin.scale.fill_(1e-4)
        lin.bias.copy_(torch.randn(32, generator=g))
        lin.set_subias()
    x = torch.rand(10, 64, generator=g) * 2 - 1
    q = lin(x)
    lin.opus_arith = False
    f = lin(x)
    # Error of rounding inputs to 1/127 steps: at most 0.5/127 * sum|w| * 127 * scale.
    bound = 0.5 * (lin.weight_int8.abs().sum(1) * lin.scale).max()
    assert (q - f).abs().max() <= bound + 1e-5


def test_tables_match_opus():
    tables = OPUS / "dnn" / "lpcnet_tables.c"
    if not tables.exists():
        pytest.skip(f"{tables} absent")
    text = tables.read_text()

    def arr(name: str) -> np.ndarray:
        m = re.search(r"const float " + name + r"\[\] = \{([^}]*)\}", text)
        assert m is not None
        return np.array([float(v.strip().rstrip("f")) for v in m.group(1).split(",")
                         if v.strip()])

    np.testing.assert_allclose(arr("half_window"), half_window(), atol=1e-7)
    np.testing.assert_allclose(arr("dct_table").reshape(NB_BANDS, NB_BANDS), dct_table(),
                               atol=1e-7)


def dump_data_features(sig: np.ndarray) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        pcm = np.clip(np.round(sig * 32768.0), -32768, 32767).astype(np.int16)
        pcm.tofile(f"{tmp}/a.s16")
        subprocess.run([str(DUMP_DATA), "-test", f"{tmp}/a.s16", f"{tmp}/a.f32"], check=True,
                       capture_output=True)
        return np.fromfile(f"{tmp}/a.f32", dtype=np.float32).reshape(-1, 36)[:, :20]


def test_parity_with_dump_data():
    if not DUMP_DATA.exists() or not DEFAULT_WEIGHTS.exists():
        pytest.skip("dump_data or the converted PitchDNN weights are absent")
    sig = speechlike(3.0, seed=10)
    sig = (np.clip(np.round(sig * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)
    ref = dump_data_features(sig)
    m = LPCNetAnalysis().load_opus_weights().eval()
    ours = m.sig_to_feats(torch.from_numpy(sig)[None])[0][0].numpy()
    assert ours.shape == ref.shape
    err = np.abs(ours - ref)
    # Cepstra: float rounding only (dump_data's own float32 DC filter adds noise near DC).
    assert err[:, :NB_BANDS].mean() < 1e-3 and err[:, :NB_BANDS].max() < 3e-2
    p_ref = pitch_to_period(torch.from_numpy(ref[:, 18]))
    p_ours = pitch_to_period(torch.from_numpy(ours[:, 18]))
    assert ((p_ref - p_ours).abs() <= 1).float().mean() >= 0.97
    assert np.median(err[:, 18]) < 1e-3
    assert np.median(err[:, 19]) < 1e-3
