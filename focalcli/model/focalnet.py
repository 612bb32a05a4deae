"""Focal-modulation compressor (``FocalEncoder``) and decompressor (``FocalDecoder``).

Both work on (B, T, C) frame sequences at the token rate. Streaming state: per layer, a list of
convolution contexts (B, C, k-1) — the down/up-scale convolution, each focal level and, when
causal, the global-context convolution over the last ``window_size`` frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from focalcli.model.geometry import DEFAULT_CAUSAL, DEFAULT_DOWNSCALE_FACTORS
from focalcli.model.layers import DynamicTanh, FeedForward, Snake, causal_pad

LayerState = list[Tensor | None]


class FocalModulation(nn.Module):
    """Focal modulation: a query modulated by gated, hierarchically aggregated context."""

    def __init__(self, dim: int, focal_window: int, focal_level: int, focal_factor: int,
                 dropout: float, use_post_norm: bool, tanhscale_init: float,
                 normalize_modulator: bool, causal: bool, window_size: int) -> None:
        super().__init__()
        self.dim = dim
        self.focal_level = focal_level
        self.normalize_modulator = normalize_modulator
        self.causal = causal
        self.in_proj = nn.Linear(dim, 2 * dim + focal_level + 1)
        kernels = [focal_factor * k + focal_window for k in range(focal_level)]
        if causal:
            kernels.append(window_size)  # global context: a depthwise conv over the window
        self.kernel_sizes = kernels
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(dim, dim, k, groups=dim, padding=0 if causal else "same"), nn.GELU()
            )
            for k in kernels
        )
        self.activation = nn.GELU()
        self.context_proj = nn.Conv1d(dim, dim, kernel_size=1)
        self.norm: nn.Module = nn.Identity()
        if use_post_norm:
            self.norm = DynamicTanh(dim, tanhscale_init) if causal else nn.LayerNorm(dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, state: LayerState | None = None) -> tuple[Tensor, LayerState]:
        """x: (B, T, dim) -> (B, T, dim); state: one context per level."""
        query, context, gates = self.in_proj(x).transpose(1, 2).split(
            [self.dim, self.dim, self.focal_level + 1], dim=1
        )
        new_state: LayerState = []
        total = torch.zeros_like(context)
        for level, layer in enumerate(self.layers):
            if self.causal:
                context, ctx = causal_pad(context, state[level] if state else None,
                                          self.kernel_sizes[level] - 1)
                new_state.append(ctx)
            context = layer(context)
            total = total + context * gates[:, level : level + 1]
        if not self.causal:
            context_global = self.activation(context.mean(dim=-1, keepdim=True))
            total = total + context_global * gates[:, self.focal_level :]
        if self.normalize_modulator:
            total = total / (self.focal_level + 1)
        out = (query * self.context_proj(total)).transpose(1, 2)
        return self.dropout(self.out_proj(self.norm(out))), new_state


class FocalBlock(nn.Module):
    """Residual focal modulation and feed-forward, each behind DynamicTanh (causal) or LayerNorm."""

    def __init__(self, dim: int, focal_window: int, focal_level: int, focal_factor: int,
                 dropout: float, use_post_norm: bool, use_layerscale: bool,
                 layerscale_init: float, tanhscale_init: float, normalize_modulator: bool,
                 causal: bool, window_size: int) -> None:
        super().__init__()
        self.use_post_norm = use_post_norm

        def norm() -> nn.Module:
            return DynamicTanh(dim, tanhscale_init) if causal else nn.LayerNorm(dim)

        self.modulation_norm = norm()
        self.modulation = FocalModulation(dim, focal_window, focal_level, focal_factor, dropout,
                                          use_post_norm, tanhscale_init, normalize_modulator,
                                          causal, window_size)
        self.feed_forward_norm = norm()
        self.feed_forward = FeedForward(dim, 4 * dim, dropout)
        self.modulation_gamma: Tensor | None = None
        self.feed_forward_gamma: Tensor | None = None
        if use_layerscale:
            self.modulation_gamma = nn.Parameter(torch.full((dim,), layerscale_init))
            self.feed_forward_gamma = nn.Parameter(torch.full((dim,), layerscale_init))

    def forward(self, x: Tensor, state: LayerState | None = None) -> tuple[Tensor, LayerState]:
        """x: (B, T, dim) -> (B, T, dim)."""
        if self.use_post_norm:
            h, state = self.modulation(x, state)
            h = self.modulation_norm(h)
        else:
            h, state = self.modulation(self.modulation_norm(x), state)
        if self.modulation_gamma is not None:
            h = h * self.modulation_gamma
        x = x + h
        if self.use_post_norm:
            h = self.feed_forward_norm(self.feed_forward(x))
        else:
            h = self.feed_forward(self.feed_forward_norm(x))
        if self.feed_forward_gamma is not None:
            h = h * self.feed_forward_gamma
        return x + h, state


class DownScale(nn.Module):
    """Strided Conv1d (kernel = stride = factor) then Snake; (B, T, Cin) -> (B, T/f, Cout)."""

    def __init__(self, input_dim: int, output_dim: int, factor: int, causal: bool) -> None:
        super().__init__()
        self.factor = factor
        self.causal = causal
        self.downscale = nn.Conv1d(input_dim, output_dim, factor, factor)
        self.activation = Snake(output_dim)

    def forward(self, x: Tensor, ctx: Tensor | None) -> tuple[Tensor, Tensor | None]:
        x = x.transpose(1, 2)
        if self.causal:
            x, ctx = causal_pad(x, ctx, self.factor - 1)
        else:
            pad = (x.shape[-1] - self.factor) % self.factor
            x = nn.functional.pad(x, (0, pad)) if pad else x
        return self.activation(self.downscale(x).transpose(1, 2)), ctx


class UpScale(nn.Module):
    """Snake then ConvTranspose1d (kernel = stride = factor); (B, T, Cin) -> (B, T*f, Cout)."""

    def __init__(self, input_dim: int, output_dim: int, factor: int, causal: bool) -> None:
        super().__init__()
        self.factor = factor
        self.causal = causal
        self.activation = Snake(input_dim)
        self.upscale = nn.ConvTranspose1d(input_dim, output_dim, factor, factor)

    def forward(self, x: Tensor, ctx: Tensor | None) -> tuple[Tensor, Tensor | None]:
        T = x.shape[1]
        x = x.transpose(1, 2)
        if self.causal:
            x, ctx = causal_pad(x, ctx, self.factor - 1)
        y = self.upscale(self.activation(x.transpose(1, 2)).transpose(1, 2))
        if self.causal:
            y = y[..., -T * self.factor :]
        return y.transpose(1, 2), ctx


class FocalDownScale(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, factor: int, **block: object) -> None:
        super().__init__()
        causal = bool(block["causal"])
        self.downscale = DownScale(input_dim, output_dim, factor, causal)
        self.focal_block = FocalBlock(output_dim, **block)  # type: ignore[arg-type]

    def forward(self, x: Tensor, state: LayerState | None) -> tuple[Tensor, LayerState]:
        """(B, T, Cin) -> (B, T / f, Cout); state: [downscale ctx, *focal block contexts]."""
        x, ctx = self.downscale(x, state[0] if state else None)
        x, block_state = self.focal_block(x, state[1:] if state else None)
        return x, [ctx, *block_state]


class FocalUpScale(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, factor: int, **block: object) -> None:
        super().__init__()
        causal = bool(block["causal"])
        self.focal_block = FocalBlock(input_dim, **block)  # type: ignore[arg-type]
        self.upscale = UpScale(input_dim, output_dim, factor, causal)

    def forward(self, x: Tensor, state: LayerState | None) -> tuple[Tensor, LayerState]:
        """(B, T, Cin) -> (B, T * f, Cout); state: [*focal block contexts, upscale ctx]."""
        x, block_state = self.focal_block(x, state[:-1] if state else None)
        x, ctx = self.upscale(x, state[-1] if state else None)
        return x, [*block_state, ctx]


class ChunkFeedForward(nn.Module):
    """The refiner: a residual MLP over groups of ``chunk`` consecutive frames.

    Groups are aligned to the start of each call, so a streaming caller must feed it whole
    groups (the decoder session does). A trailing partial group is zero-padded and cropped.
    """

    def __init__(self, chunk: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.chunk = chunk
        self.in_proj = nn.Linear(chunk * dim, chunk * dim)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(chunk * dim, chunk * dim)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        pad = (-T) % self.chunk
        groups = nn.functional.pad(x, (0, 0, 0, pad)).reshape(B, -1, self.chunk * C)
        h = self.out_proj(self.dropout(self.activation(self.in_proj(groups))))
        return x + self.dropout(h).reshape(B, -1, C)[:, :T]


def _block_kwargs(focal_window: int, focal_level: int, focal_factor: int, dropout: float,
                  use_post_norm: bool, use_layerscale: bool, layerscale_init: float,
                  tanhscale_init: float, normalize_modulator: bool, causal: bool,
                  window_size: int) -> dict[str, object]:
    return dict(focal_window=focal_window, focal_level=focal_level, focal_factor=focal_factor,
                dropout=dropout, use_post_norm=use_post_norm, use_layerscale=use_layerscale,
                layerscale_init=layerscale_init, tanhscale_init=tanhscale_init,
                normalize_modulator=normalize_modulator, causal=causal, window_size=window_size)


class FocalEncoder(nn.Module):
    """Compressor: features (B, T, input_dim) -> latents (B, T / prod(factors), output_dim)."""

    def __init__(
        self,
        input_dim: int = 1024,
        output_dim: int = 12,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        downscale_factors: Sequence[int] = DEFAULT_DOWNSCALE_FACTORS,
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        use_layerscale: bool = False,
        layerscale_init: float = 1e-4,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = DEFAULT_CAUSAL,
        window_size: int = 512,
    ) -> None:
        super().__init__()
        self.causal = causal
        block = _block_kwargs(focal_window, focal_level, focal_factor, dropout, use_post_norm,
                              use_layerscale, layerscale_init, tanhscale_init,
                              normalize_modulator, causal, window_size)
        dims = [input_dim, *hidden_dims]
        self.layers = nn.ModuleList(
            FocalDownScale(dims[i], dims[i + 1], f, **block)
            for i, f in enumerate(downscale_factors)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(dims[-1], output_dim)

    def forward(self, x: Tensor, state: list[LayerState] | None = None
                ) -> tuple[Tensor, list[LayerState]]:
        new_state: list[LayerState] = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, state[i] if state else None)
            new_state.append(layer_state)
        return self.out_proj(self.dropout(x)), new_state


class FocalDecoder(nn.Module):
    """Decompressor: codes (B, T, input_dim) -> features (B, T * prod(factors), output_dim)."""

    def __init__(
        self,
        input_dim: int = 12,
        output_dim: int = 1024,
        hidden_dims: Sequence[int] = (1024, 1024, 1024),
        upscale_factors: Sequence[int] = (1, 1, 1),
        focal_window: int = 14,
        focal_level: int = 2,
        focal_factor: int = 4,
        dropout: float = 0.0,
        use_post_norm: bool = False,
        use_layerscale: bool = False,
        layerscale_init: float = 1e-4,
        tanhscale_init: float = 0.5,
        normalize_modulator: bool = False,
        causal: bool = DEFAULT_CAUSAL,
        window_size: int = 512,
        last_window_size: int = 512,
        lookahead_size: int = 3,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.chunk_frames = 1 + lookahead_size
        dims = [*hidden_dims, output_dim]
        self.in_proj = nn.Linear(input_dim, dims[0])
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList()
        for i, f in enumerate(upscale_factors):
            window = window_size if i < len(upscale_factors) - 1 else last_window_size
            block = _block_kwargs(focal_window, focal_level, focal_factor, dropout,
                                  use_post_norm, use_layerscale, layerscale_init,
                                  tanhscale_init, normalize_modulator, causal, window)
            self.layers.append(FocalUpScale(dims[i], dims[i + 1], f, **block))
        self.refiner: ChunkFeedForward | None = None
        if causal and lookahead_size > 0:
            self.refiner = ChunkFeedForward(self.chunk_frames, dims[-1], dropout)

    def forward(self, x: Tensor, state: list[LayerState] | None = None
                ) -> tuple[Tensor, list[LayerState]]:
        x = self.dropout(self.in_proj(x))
        new_state: list[LayerState] = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, state[i] if state else None)
            new_state.append(layer_state)
        if self.refiner is not None:
            x = self.refiner(x)
        return x, new_state
