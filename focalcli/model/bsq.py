"""Binary spherical quantizer: the sign pattern of a D-dim latent is the token (D = log2 K bits).

Token <-> code mapping is MSB-first: the first latent dimension is the most significant bit.
A code is ``(2 * bit - 1) / sqrt(D)`` per dimension, a point on the unit sphere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class BinarySphericalQuantizer(nn.Module):
    """No parameters; ``codebook_size`` must be a power of two."""

    def __init__(self, codebook_size: int = 4096) -> None:
        super().__init__()
        dim = int(math.log2(codebook_size))
        if 2**dim != codebook_size:
            raise ValueError(f"codebook_size must be a power of two, got {codebook_size}")
        self.codebook_size = codebook_size
        self.dim = dim
        self.scale = 1 / math.sqrt(dim)
        self.register_buffer("weights", 2 ** torch.arange(dim - 1, -1, -1), persistent=False)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """(..., D) float -> (..., D) codes of +-1/sqrt(D); zero maps to the negative code."""
        return torch.where(lats > 0, self.scale, -self.scale).to(lats.dtype)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """(..., D) latents or codes -> (...) int64 tokens (bit j set iff x_j > 0)."""
        weights: Tensor = self.weights  # type: ignore[assignment]
        return ((codes > 0).long() * weights).sum(dim=-1)

    lats_to_toks = codes_to_toks

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """(...) int tokens in [0, K) -> (..., D) float32 codes."""
        weights: Tensor = self.weights  # type: ignore[assignment]
        bits = (toks[..., None] // weights) % 2
        return (bits.float() * 2 - 1) * self.scale
