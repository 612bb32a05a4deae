"""Cheap discriminators for an optional adversarial fine-tuning phase (CPU budget in mind).

- Multi-period: the waveform (B, N) folded to (B, 1, N / p, p) per period p, a few small strided
  2-D convolutions along time.
- Multi-resolution STFT: log-magnitude spectrogram (B, 1, frames, bins) per FFT size, small
  strided 2-D convolutions.

Least-squares GAN losses and L1 feature matching (features normalised by their count).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from focalcli.train.config import GanConfig


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.period = period
        dims = [1, *channels]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(dims[i], dims[i + 1], (5, 1), (3, 1), padding=(2, 0)))
            for i in range(len(channels))
        )
        self.out = weight_norm(nn.Conv2d(dims[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x: (B, N) -> (logits (B, -1), features)."""
        B, N = x.shape
        pad = (-N) % self.period
        x = nn.functional.pad(x, (0, pad), mode="reflect" if pad < N else "constant")
        h = x.reshape(B, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            h = nn.functional.leaky_relu(conv(h), 0.1)
            feats.append(h)
        h = self.out(h)
        feats.append(h)
        return h.flatten(1), feats


class SpectrogramDiscriminator(nn.Module):
    def __init__(self, n_fft: int, channels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(1, c, (3, 9), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
        ])
        self.out = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        window: Tensor = self.window  # type: ignore[assignment]
        spec = torch.stft(x, self.n_fft, self.n_fft // 4, window=window, return_complex=True)
        h = torch.log1p(spec.abs()).transpose(1, 2)[:, None]  # (B, 1, frames, bins)
        feats = []
        for conv in self.convs:
            h = nn.functional.leaky_relu(conv(h), 0.1)
            feats.append(h)
        h = self.out(h)
        feats.append(h)
        return h.flatten(1), feats


class Discriminators(nn.Module):
    """All sub-discriminators; forward returns per-discriminator logits and feature lists."""

    def __init__(self, cfg: GanConfig) -> None:
        super().__init__()
        subs: list[nn.Module] = [PeriodDiscriminator(p, cfg.mpd_channels) for p in cfg.periods]
        subs += [SpectrogramDiscriminator(n, cfg.stft_channels) for n in cfg.stft_sizes]
        self.subs = nn.ModuleList(subs)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        logits, feats = [], []
        for d in self.subs:
            lg, ft = d(x)
            logits.append(lg)
            feats.append(ft)
        return logits, feats


def generator_loss(fake_logits: list[Tensor]) -> Tensor:
    """LSGAN generator term: mean over discriminators of (1 - D(G(z)))^2."""
    return torch.stack([(1 - lg).pow(2).mean() for lg in fake_logits]).mean()


def discriminator_loss(real_logits: list[Tensor], fake_logits: list[Tensor]) -> Tensor:
    """LSGAN discriminator term: (1 - D(x))^2 + D(G(z))^2, averaged over discriminators."""
    terms = [(1 - r).pow(2).mean() + f.pow(2).mean()
             for r, f in zip(real_logits, fake_logits, strict=True)]
    return torch.stack(terms).mean()


def feature_matching_loss(real_feats: list[list[Tensor]], fake_feats: list[list[Tensor]]
                          ) -> Tensor:
    """Mean L1 distance between real (detached) and fake discriminator features."""
    terms = [(r.detach() - f).abs().mean()
             for rs, fs in zip(real_feats, fake_feats, strict=True)
             for r, f in zip(rs, fs, strict=True)]
    return torch.stack(terms).mean()
