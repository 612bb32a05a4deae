"""The iSTFT head: what frame-relative and absolute phase can and cannot hold steady."""

import math

import numpy as np
import pytest
import torch

from focalcli.model.decoders import Vocos

N_FFT, HOP = 960, 320


def steady_head(absolute_phase: bool, bin_k: int) -> Vocos:
    """A causal Vocos whose head ignores its input: one bin at magnitude 1 and phase 0."""
    vocos = Vocos(input_dim=4, num_layers=1, dim=8, ffn_dim=8, n_fft=N_FFT, hop_length=HOP,
                  causal=True, absolute_phase=absolute_phase)
    proj = vocos.head.proj
    with torch.no_grad():
        proj.weight.zero_()
        proj.bias.fill_(-30.0)  # log-magnitude of every bin: silent
        proj.bias[bin_k] = 0.0
        proj.bias[N_FFT // 2 + 1 :] = 0.0  # phases
    return vocos


def max_step(sig: torch.Tensor) -> float:
    return float(sig.diff().abs().max())


@pytest.mark.parametrize("bin_k", [7, 8, 13])  # 116.7, 133.3, 216.7 Hz: not multiples of 50 Hz
def test_absolute_phase_holds_a_steady_tone_across_frames(bin_k):
    x = torch.zeros(1, 12, 4)
    with torch.no_grad():
        steady, _ = steady_head(True, bin_k)(x)
        relative, _ = steady_head(False, bin_k)(x)
    n = torch.arange(steady.shape[1])
    tone = steady[0, 0] / math.cos(2 * math.pi * bin_k * (N_FFT - HOP) / N_FFT)
    expected = tone * torch.cos(2 * math.pi * bin_k * (n + N_FFT - HOP) / N_FFT)
    assert torch.allclose(steady[0], expected, atol=1e-6)
    # One smooth sinusoid: no sample step larger than the tone's own slope allows...
    slope = float(tone.abs()) * 2 * math.pi * bin_k / N_FFT
    assert max_step(steady[0]) <= slope * 1.01
    # ...while frame-relative phase restarts the tone every hop and jumps at frame edges.
    assert max_step(relative[0]) > 3 * slope


def test_frame_relative_phase_holds_multiples_of_the_frame_rate():
    with torch.no_grad():
        relative, _ = steady_head(False, 12)(torch.zeros(1, 6, 4))  # 200 Hz
    slope = float(relative.abs().max()) * 2 * math.pi * 12 / N_FFT
    assert max_step(relative[0]) <= slope * 1.01


def test_frame_index_state_wraps_and_keeps_the_ramp_exact():
    vocos = steady_head(True, 7)
    x = torch.zeros(1, 5, 4)
    with torch.no_grad():
        _, state = vocos(x)
        assert int(state[-1]) == 5 % vocos.head.phase_period
        # A stream 3 million frames in (about 17 hours) continues exactly as one just started.
        far = [None] * (len(state) - 1) + [torch.tensor([[3_000_000 + 5]])]
        near = [None] * (len(state) - 1) + [state[-1]]
        out_far, _ = vocos(x, far)
        out_near, _ = vocos(x, near)
    assert torch.equal(out_far, out_near)


def test_frame_relative_head_keeps_the_reference_state_layout():
    vocos = Vocos(input_dim=4, num_layers=2, dim=8, ffn_dim=8, n_fft=N_FFT, hop_length=HOP,
                  causal=True)
    with torch.no_grad():
        _, state = vocos(torch.zeros(1, 3, 4))
    assert len(state) == 1 + 2  # embedding context + one per block; no frame index


def harmonic_vocos(f0: float, voicing_logit: float, harmonics: int = 16) -> Vocos:
    """A causal Vocos: flat noise-like iSTFT spectrum, harmonic head fixed at ``f0``."""
    vocos = Vocos(input_dim=4, num_layers=1, dim=8, ffn_dim=8, n_fft=N_FFT, hop_length=HOP,
                  causal=True, harmonics=harmonics)
    assert vocos.harmonic is not None
    with torch.no_grad():
        vocos.head.proj.weight.zero_()
        vocos.head.proj.bias.zero_()  # every bin at magnitude 1...
        phases = torch.rand(N_FFT // 2 + 1, generator=torch.Generator().manual_seed(0))
        vocos.head.proj.bias[N_FFT // 2 + 1 :] = 2 * math.pi * phases  # ...at random phase
        vocos.harmonic.proj.weight.zero_()
        vocos.harmonic.proj.bias.zero_()
        vocos.harmonic.proj.bias[0] = math.log2(f0 / 150.0)
        vocos.harmonic.proj.bias[1] = voicing_logit
    return vocos


def test_harmonic_head_holds_a_voice_at_any_pitch():
    f0 = 137.0  # not a multiple of the 50 Hz frame rate nor of the 16.7 Hz bin spacing
    with torch.no_grad():
        sig, _ = harmonic_vocos(f0, voicing_logit=12.0)(torch.zeros(1, 100, 4))  # 2 s
    steady = sig[0, 16000:].numpy()  # after the fade-in from silence
    power = np.abs(np.fft.rfft(steady * np.hanning(steady.size))) ** 2
    freqs = np.fft.rfftfreq(steady.size, 1 / 16000)
    near_harmonic = np.abs(freqs - f0 * np.round(freqs / f0)) < 3.0
    assert power[near_harmonic].sum() > 0.99 * power.sum()
    # One period later the wave repeats: a continuous voice, no restarts at frame edges.
    period = 16000 / f0
    shifted = np.interp(np.arange(steady.size - 200) + period, np.arange(steady.size), steady)
    assert np.corrcoef(steady[: steady.size - 200], shifted)[0, 1] > 0.99


def test_voicing_trades_noise_for_harmonics_at_the_same_level():
    x = torch.zeros(1, 100, 4)
    with torch.no_grad():
        unvoiced, _ = harmonic_vocos(120.0, voicing_logit=-12.0, harmonics=64)(x)
        voiced, _ = harmonic_vocos(120.0, voicing_logit=12.0, harmonics=64)(x)
        plain = Vocos(input_dim=4, num_layers=1, dim=8, ffn_dim=8, n_fft=N_FFT,
                      hop_length=HOP, causal=True)
        plain.head.proj.load_state_dict(harmonic_vocos(120.0, 0.0).head.proj.state_dict())
        noise, _ = plain(x)

    def band_db(sig: torch.Tensor) -> float:  # the harmonics reach 64 * 120 = 7680 Hz
        spec = np.abs(np.fft.rfft(sig[0, 8000:].numpy())) ** 2
        freqs = np.fft.rfftfreq(sig.shape[1] - 8000, 1 / 16000)
        return float(10 * np.log10(spec[(freqs > 100) & (freqs < 7600)].sum()))

    assert torch.allclose(unvoiced, noise, atol=1e-4)  # unvoiced: the iSTFT head alone
    assert abs(band_db(voiced) - band_db(noise)) < 1.5


def test_harmonics_at_or_above_nyquist_are_silent():
    head = harmonic_vocos(300.0, voicing_logit=12.0, harmonics=64).harmonic
    assert head is not None
    f0 = torch.tensor([[300.0, 1000.0]], dtype=torch.float64)
    amps = head.amplitudes(torch.zeros(1, 2, N_FFT // 2 + 1), f0, torch.zeros(1, 2, 64),
                           torch.ones(1, 2))
    k = torch.arange(1, 65)
    assert (amps[0, 0, k * 300 < 7800] > 0).all() and (amps[0, 0, k * 300 >= 8000] == 0).all()
    assert (amps[0, 1, k * 1000 >= 8000] == 0).all()
