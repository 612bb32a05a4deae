"""Frame-rate pitch from a normalised autocorrelation.

``frames_to_pitch`` estimates one fundamental frequency per window: the autocorrelation of the
Hann-windowed samples divided by the window's own autocorrelation (so that the peak of a
periodic window is near 1), at the shortest lag whose peak is within 10 % of the best. It is the
training target of the harmonic decoder (``sig_to_pitch``, windows centred on each frame) and,
optionally, a causal input feature of the log-mel front end (windows ending at each frame's end).
"""

from __future__ import annotations

import torch
from torch import Tensor


def frames_to_pitch(frames: Tensor, sample_rate: int = 16000, f0_min: float = 60.0,
                    f0_max: float = 400.0) -> tuple[Tensor, Tensor, Tensor]:
    """frames (..., W) samples -> (log-f0 in log Hz, periodicity in [0, 1], energy), each (...).

    Periodicity is the normalised autocorrelation at the chosen lag; energy the windowed power.
    """
    win_len = frames.shape[-1]
    window = torch.hann_window(win_len, periodic=False, device=frames.device,
                               dtype=frames.dtype)
    frames = (frames - frames.mean(-1, keepdim=True)) * window
    n_fft = 2 * win_len
    acf = torch.fft.irfft(torch.fft.rfft(frames, n_fft).abs().pow(2), n_fft)[..., :win_len]
    win_acf = torch.fft.irfft(torch.fft.rfft(window, n_fft).abs().pow(2), n_fft)[:win_len]
    nacf = (acf / acf[..., :1].clamp_min(1e-9)) / (win_acf / win_acf[0]).clamp_min(1e-3)
    lag_min = int(sample_rate / f0_max)
    lag_max = int(sample_rate / f0_min)
    search = nacf[..., lag_min : lag_max + 2]
    best = search[..., :-1].amax(-1, keepdim=True)
    # The shortest lag whose local peak is within 10 % of the best avoids sub-octave errors.
    is_peak = (search[..., 1:-1] >= search[..., :-2]) & (search[..., 1:-1] >= search[..., 2:])
    near_best = is_peak & (search[..., 1:-1] >= 0.9 * best)
    idx = near_best.int().argmax(-1) + 1
    peak = search.gather(-1, idx[..., None])[..., 0]
    lag = (idx + lag_min).to(frames.dtype)
    # Parabolic interpolation around the peak for sub-sample lag.
    i = (idx + lag_min).clamp(1, win_len - 2)
    left = nacf.gather(-1, (i - 1)[..., None])[..., 0]
    mid = nacf.gather(-1, i[..., None])[..., 0]
    right = nacf.gather(-1, (i + 1)[..., None])[..., 0]
    denom = left - 2 * mid + right
    shift = torch.where(denom.abs() > 1e-6, 0.5 * (left - right) / denom, torch.zeros_like(mid))
    lag = lag + shift.clamp(-0.5, 0.5)
    return torch.log(sample_rate / lag), peak.clamp(0.0, 1.0), acf[..., 0]


def sig_to_pitch(sig: Tensor, hop: int = 320, sample_rate: int = 16000,
                 voicing_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """sig (B, N) with N = T * hop -> (log_f0 (B, T) in log Hz, voiced (B, T) bool).

    Frame t covers samples [t * hop, (t + 1) * hop); its analysis window is 2 * hop long and
    centred there. ``log_f0`` is meaningful only where ``voiced``: the periodicity exceeds
    ``voicing_threshold`` and the frame is no quieter than 40 dB below the crop's loudest.
    """
    T = sig.shape[-1] // hop
    padded = torch.nn.functional.pad(sig, (hop // 2, hop // 2 + 2 * hop))
    frames = padded.unfold(-1, 2 * hop, hop)[:, :T]  # (B, T, 2 * hop)
    log_f0, peak, energy = frames_to_pitch(frames, sample_rate)
    loud = energy > energy.amax(-1, keepdim=True) * 1e-4
    return log_f0, (peak > voicing_threshold) & loud
