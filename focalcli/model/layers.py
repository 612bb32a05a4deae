"""Small building blocks shared by every module of the codec.

Streaming convention used throughout the model layer: a causal module takes its input and the
``state`` returned by its previous call (``None`` on the first call) and returns
``(output, new_state)``. A causal convolution's state is the last ``kernel_size - 1`` frames of
the sequence that fed it (the convolution *input*), so calling a module chunk by chunk gives
exactly what one call over the whole signal gives.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def causal_pad(
    x: Tensor, ctx: Tensor | None, pad: int, mode: str = "replicate"
) -> tuple[Tensor, Tensor | None]:
    """Prepend the left context of a causal convolution.

    Args:
        x: input, (B, C, T).
        ctx: the previous call's context, (B, C, pad), or None on the first call; then the
            sequence is padded with ``pad`` copies of its first frame (``mode="replicate"``) or
            with zeros (``mode="constant"``).
        pad: number of context frames, ``kernel_size - 1``.

    Returns:
        ``(x_padded (B, C, pad + T), new_ctx (B, C, pad))``; ``new_ctx`` is None when ``pad == 0``.
    """
    if pad == 0:
        return x, None
    if ctx is None:
        x = nn.functional.pad(x, (pad, 0), mode=mode)
    else:
        x = torch.cat([ctx, x], dim=-1)
    return x, x[..., -pad:]


class FeedForward(nn.Module):
    """Position-wise MLP: Linear(dim -> ffn_dim), GELU, Linear(ffn_dim -> dim) on (..., dim)."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, ffn_dim)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(ffn_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.out_proj(self.dropout(self.activation(self.in_proj(x)))))


class DynamicTanh(nn.Module):
    """Normalisation-free ``tanh(alpha * x)`` with one learned scalar ``alpha`` (no affine)."""

    def __init__(self, dim: int, tanhscale_init: float = 0.5) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.full((1,), tanhscale_init))

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.alpha * x)


class Snake(nn.Module):
    """Snake activation ``x + sin^2(alpha x) / (alpha + 1e-9)``, alpha per channel, on (B, T, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim, 1))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.T
        return x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x) ** 2


def channels_last_norm(norm: nn.Module, x: Tensor) -> Tensor:
    """Apply a last-dim normalisation to (B, C, T) and return (B, C, T)."""
    return norm(x.transpose(1, 2)).transpose(1, 2)


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, fmin: float = 0.0,
                   fmax: float | None = None) -> Tensor:
    """Slaney-style triangular mel filters (HTK mel scale), shape (n_mels, n_fft // 2 + 1)."""
    fmax = fmax or sample_rate / 2

    def hz_to_mel(f: Tensor) -> Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    def mel_to_hz(m: Tensor) -> Tensor:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mels = torch.linspace(float(hz_to_mel(torch.tensor(fmin))),
                          float(hz_to_mel(torch.tensor(fmax))), n_mels + 2)
    hz = mel_to_hz(mels)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None] - lower) / (center - lower)
    down = (upper - freqs[None]) / (upper - center)
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    return fb * (2.0 / (upper - lower))  # area normalisation
