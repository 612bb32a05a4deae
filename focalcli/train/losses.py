"""Reconstruction and quantiser losses.

Waveforms are (B, N) float at 16 kHz. Spectral losses compare the decoded signal with the clean
target at several STFT resolutions: log-mel L1, and STFT magnitude (spectral convergence +
log-magnitude L1). Quantiser terms act on L2-normalised latents (B, T, D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from focalcli.model.layers import mel_filterbank


class MultiResolutionSpectralLoss(nn.Module):
    """Sum over resolutions of log-mel L1, spectral convergence and log-magnitude L1.

    Args:
        fft_sizes: FFT sizes (window = FFT size, hop = FFT size / 4).
        n_mels: mel bands per resolution.
    """

    def __init__(self, fft_sizes: Sequence[int] = (256, 512, 1024, 2048),
                 n_mels: Sequence[int] = (32, 64, 80, 128), sample_rate: int = 16000) -> None:
        super().__init__()
        self.fft_sizes = list(fft_sizes)
        for n_fft, m in zip(fft_sizes, n_mels, strict=True):
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)
            self.register_buffer(f"mel_{n_fft}", mel_filterbank(n_fft, m, sample_rate),
                                 persistent=False)

    def _mag(self, x: Tensor, n_fft: int) -> Tensor:
        window: Tensor = getattr(self, f"window_{n_fft}")
        spec = torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)
        return (spec.real**2 + spec.imag**2 + 1e-9).sqrt()  # (B, F, frames)

    def forward(self, y: Tensor, x: Tensor) -> dict[str, Tensor]:
        """y: decoded (B, N), x: target (B, N). Returns {"mel", "sc", "mag"} (scalars)."""
        mel = y.new_zeros(())
        sc = y.new_zeros(())
        mag = y.new_zeros(())
        for n_fft in self.fft_sizes:
            fb: Tensor = getattr(self, f"mel_{n_fft}")
            my, mx = self._mag(y, n_fft), self._mag(x, n_fft)
            mel = mel + (torch.log(fb @ my + 1e-5) - torch.log(fb @ mx + 1e-5)).abs().mean()
            sc = sc + torch.linalg.norm(my - mx, dim=(1, 2)).div(
                torch.linalg.norm(mx, dim=(1, 2)) + 1e-7).mean()
            mag = mag + (torch.log(my + 1e-5) - torch.log(mx + 1e-5)).abs().mean()
        k = len(self.fft_sizes)
        return {"mel": mel / k, "sc": sc / k, "mag": mag / k}


def waveform_loss(y: Tensor, x: Tensor) -> Tensor:
    """L1 distance of decoded (B, N) to target (B, N) samples, relative to the target's mean |x|.

    Unlike the magnitude terms it depends on phase, pulling the decoder towards the reference
    waveform (what PESQ and STOI compare); about 1.4 for a right spectrum with random phase.
    """
    return ((y - x).abs().mean(-1) / (x.abs().mean(-1) + 1e-7)).mean()


class PitchHead(nn.Module):
    """Training-only probe: decoder input features (B, T, C) -> (log-f0 (B, T), voicing logit).

    Linear, so the features must expose pitch plainly for the decoder to use. Log-f0 is
    predicted relative to 150 Hz, in octaves.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2)

    def forward(self, qfeats: Tensor) -> tuple[Tensor, Tensor]:
        out = self.proj(qfeats)
        return math.log(150.0) + out[..., 0] * math.log(2.0), out[..., 1]


def pitch_loss(log_f0_pred: Tensor, voicing_logit: Tensor, log_f0: Tensor,
               voiced: Tensor) -> Tensor:
    """Voicing cross-entropy plus L1 in octaves of log-f0 on voiced frames; all (B, T)."""
    voicing = nn.functional.binary_cross_entropy_with_logits(voicing_logit, voiced.float())
    err = (log_f0_pred - log_f0).abs() / math.log(2.0)
    f0 = (err * voiced).sum() / voiced.sum().clamp_min(1)
    return voicing + f0


def quantize_ste(lats: Tensor, codes: Tensor, mix: float) -> Tensor:
    """Straight-through quantisation ramped in by ``mix`` in [0, 1].

    Forward value ``lats + mix * (codes - lats)``; gradient flows to ``lats`` unchanged.
    """
    return lats + mix * (codes - lats).detach()


def commitment_loss(lats: Tensor, codes: Tensor) -> Tensor:
    """Mean squared distance of latents (B, T, D) to their (detached) binary codes, times D."""
    return (lats - codes.detach()).pow(2).sum(-1).mean()


def bit_balance_loss(lats: Tensor, temperature: float = 0.1,
                     group_dim: int | None = None) -> Tensor:
    """Push each bit to be +1 half the time and bits to be uncorrelated.

    Soft bits ``p = sigmoid(lat * sqrt(D) / temperature)`` in (0, 1), (B, T, D). The loss is the
    mean squared deviation of the batch mean of each bit from 0.5 plus the mean squared
    off-diagonal correlation of the soft signs (encourages using all 2**D codes).
    ``group_dim``: for grouped latents (each group of ``group_dim`` dims unit-norm on its own),
    scale by ``sqrt(group_dim)`` instead, so that every pair of bits, across groups too, is
    decorrelated (a further group should not repeat what an earlier one says).
    """
    d = lats.shape[-1]
    scale = math.sqrt(group_dim or d)
    s = torch.tanh(lats * scale / temperature).reshape(-1, d)  # soft signs in (-1, 1)
    balance = s.mean(0).pow(2).mean()
    corr = (s.T @ s) / s.shape[0]
    off = corr - torch.diag(torch.diagonal(corr))
    return balance + off.pow(2).sum() / (d * (d - 1))


def code_usage(toks: Tensor, codebook_size: int) -> tuple[int, float]:
    """(distinct codes used, unigram entropy in bits) of a token tensor."""
    counts = torch.bincount(toks.reshape(-1), minlength=codebook_size).float()
    p = counts[counts > 0] / counts.sum()
    return int((counts > 0).sum()), float(-(p * p.log2()).sum())


def group_entropy_loss(lats: Tensor, group: int = 4, temperature: float = 1.0) -> Tensor:
    """Negative normalised batch entropy of the codes of bit groups (0 = uniform usage).

    Bits are split into consecutive groups of ``group`` bits (D must be divisible by it); per
    frame, each group's code has the product-of-bits soft probability ``prod_j p_j`` with
    ``p_j = sigmoid(2 * lat_j * sqrt(D) / temperature)``. The batch-average distribution over the
    ``2**group`` codes of each group should be uniform: loss = 1 - mean_g H_g / group (in bits).
    """
    d = lats.shape[-1]
    p = torch.sigmoid(2 * lats.reshape(-1, d) * math.sqrt(d) / temperature)  # (N, D) P(bit=1)
    codes = torch.arange(2**group, device=lats.device)
    bits = ((codes[:, None] >> torch.arange(group - 1, -1, -1, device=lats.device)) & 1).float()
    ent = []
    for g in range(d // group):
        pg = p[:, g * group : (g + 1) * group]  # (N, g)
        probs = torch.exp(torch.log(pg.clamp_min(1e-6)) @ bits.T
                          + torch.log((1 - pg).clamp_min(1e-6)) @ (1 - bits).T)  # (N, 2**g)
        avg = probs.mean(0)
        avg = avg / avg.sum()
        ent.append(-(avg * torch.log2(avg.clamp_min(1e-12))).sum() / group)
    return 1 - torch.stack(ent).mean()


class TeacherHead(nn.Module):
    """Training-only distillation head: decoder input features (B, T, C) -> (B, T, D).

    A causal convolution over ``kernel`` frames (this frame and the ones before it), GELU, then
    a linear layer to the teacher's dimension; it sees nothing later than the decoder does.
    """

    def __init__(self, dim_in: int, dim_out: int, hidden: int = 256, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(dim_in, hidden, kernel)
        self.proj = nn.Linear(hidden, dim_out)

    def forward(self, feats: Tensor) -> Tensor:
        x = nn.functional.pad(feats.transpose(1, 2), (self.kernel - 1, 0))
        return self.proj(nn.functional.gelu(self.conv(x)).transpose(1, 2))


def distill_loss(pred: Tensor, target: Tensor, mask: Tensor, l1: float = 1.0,
                 cos: float = 1.0) -> Tensor:
    """``l1`` x mean L1 + ``cos`` x mean (1 - cosine) over the frames where ``mask`` holds.

    pred and target (B, T, D) (targets standardised per dimension), mask (B, T) bool.
    """
    m = mask.float()
    n = m.sum().clamp_min(1)
    dist = (pred - target).abs().mean(-1)
    cosd = 1 - nn.functional.cosine_similarity(pred, target, dim=-1, eps=1e-6)
    return (l1 * (dist * m).sum() + cos * (cosd * m).sum()) / n
