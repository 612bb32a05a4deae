"""The iSTFT head: what frame-relative and absolute phase can and cannot hold steady."""

import math

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
