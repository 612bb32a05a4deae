"""Binary spherical quantizer: the sign pattern of a D-dim latent is the token (D = log2 K bits).

Token <-> code mapping is MSB-first: the first latent dimension is the most significant bit.
A code is ``(2 * bit - 1) / sqrt(D)`` per dimension, a point on the unit sphere.

Grouped (``num_groups`` G > 1): the latent has G x D dimensions, G consecutive groups of D, each
L2-normalised on its own (by the codec) and quantised to its own D-bit token, so a frame gives
G tokens, group 0 first. The groups are nested bitrate rungs: a receiver given only the first g
groups decodes with zero codes for the rest. G = 1 is the plain quantizer, bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from focalcli.model.geometry import DEFAULT_CODEBOOK_SIZE, DEFAULT_NUM_GROUPS


class BinarySphericalQuantizer(nn.Module):
    """No parameters; ``codebook_size`` (per group) must be a power of two.

    Attributes: ``dim`` = D bits per group token, ``num_groups`` = G, ``latent_dim`` = G x D.
    """

    def __init__(self, codebook_size: int = DEFAULT_CODEBOOK_SIZE,
                 num_groups: int = DEFAULT_NUM_GROUPS) -> None:
        super().__init__()
        dim = int(math.log2(codebook_size))
        if 2**dim != codebook_size:
            raise ValueError(f"codebook_size must be a power of two, got {codebook_size}")
        if not isinstance(num_groups, int) or num_groups < 1:
            raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
        self.codebook_size = codebook_size
        self.dim = dim
        self.num_groups = num_groups
        self.latent_dim = dim * num_groups
        self.scale = 1 / math.sqrt(dim)
        self.register_buffer("weights", 2 ** torch.arange(dim - 1, -1, -1), persistent=False)

    # -- grouped layout --------------------------------------------------------------------------
    def normalize(self, lats: Tensor) -> Tensor:
        """(..., G*D) raw latents -> the same with each D-dim group L2-normalised."""
        if self.num_groups == 1:
            return nn.functional.normalize(lats, dim=-1)
        grouped = lats.unflatten(-1, (self.num_groups, self.dim))
        return nn.functional.normalize(grouped, dim=-1).flatten(-2)

    def pad_codes(self, codes: Tensor) -> Tensor:
        """(..., g*D) codes of the first g <= G groups -> (..., G*D), zeros for groups not sent."""
        width = codes.shape[-1]
        if width % self.dim or not 0 < width <= self.latent_dim:
            raise ValueError(f"codes of {width} dims: expected a multiple of {self.dim} "
                             f"up to {self.latent_dim}")
        if width == self.latent_dim:
            return codes
        return nn.functional.pad(codes, (0, self.latent_dim - width))

    # -- conversions -----------------------------------------------------------------------------
    def lats_to_codes(self, lats: Tensor) -> Tensor:
        """(..., G*D) float -> (..., G*D) codes of +-1/sqrt(D); zero maps to the negative code."""
        return torch.where(lats > 0, self.scale, -self.scale).to(lats.dtype)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        """(..., D) latents or codes -> (...) int64 tokens (bit j set iff x_j > 0); grouped:
        (..., g*D) -> (..., g) int64, one token per group (any g <= G)."""
        weights: Tensor = self.weights  # type: ignore[assignment]
        if self.num_groups == 1:
            return ((codes > 0).long() * weights).sum(dim=-1)
        grouped = codes.unflatten(-1, (codes.shape[-1] // self.dim, self.dim))
        return ((grouped > 0).long() * weights).sum(dim=-1)

    lats_to_toks = codes_to_toks

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """(...) int tokens in [0, K) -> (..., D) float32 codes; grouped: (..., g) tokens of the
        first g <= G groups -> (..., g*D) codes (``pad_codes`` fills the groups not sent)."""
        weights: Tensor = self.weights  # type: ignore[assignment]
        bits = (toks[..., None] // weights) % 2
        codes = (bits.float() * 2 - 1) * self.scale
        if self.num_groups == 1:
            return codes
        if toks.shape[-1] > self.num_groups:
            raise ValueError(f"{toks.shape[-1]} token groups given, the model has "
                             f"{self.num_groups}")
        return codes.flatten(-2)
