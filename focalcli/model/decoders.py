"""Waveform decoders: WaveNeXt (linear head, used by the causal models) and Vocos (iSTFT head).

Both share a ConvNeXt backbone over (B, T, C) features at the token rate. Streaming state: one
context (B, C, kernel-1) for the embedding convolution and one per ConvNeXt block.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from focalcli.model.layers import causal_pad, channels_last_norm

DecoderState = list[Tensor | None]


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, kernel_size: int, layerscale_init: float,
                 causal: bool, pad_mode: str) -> None:
        super().__init__()
        self.causal = causal
        self.pad_mode = pad_mode
        self.kernel_size = kernel_size
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, groups=dim,
                                padding=0 if causal else "same")
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, ffn_dim)
        self.activation = nn.GELU()
        self.pwconv2 = nn.Linear(ffn_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layerscale_init))

    def forward(self, x: Tensor, ctx: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """x: (B, C, T) -> (B, C, T)."""
        h = x
        if self.causal:
            h, ctx = causal_pad(h, ctx, self.kernel_size - 1, self.pad_mode)
        h = self.norm(self.dwconv(h).transpose(1, 2))
        h = self.gamma * self.pwconv2(self.activation(self.pwconv1(h)))
        return x + h.transpose(1, 2), ctx


class Backbone(nn.Module):
    """Conv embedding -> LayerNorm -> ConvNeXt blocks -> LayerNorm; (B, T, Cin) -> (B, T, dim)."""

    def __init__(self, input_dim: int, num_layers: int, dim: int, ffn_dim: int,
                 kernel_size: int, layerscale_init: float | None, causal: bool,
                 pad_mode: str) -> None:
        super().__init__()
        self.causal = causal
        self.pad_mode = pad_mode
        self.kernel_size = kernel_size
        scale = 1 / num_layers if layerscale_init is None else layerscale_init
        self.embedding = nn.Conv1d(input_dim, dim, kernel_size, padding=0 if causal else "same")
        self.input_norm = nn.LayerNorm(dim, eps=1e-6)
        self.layers = nn.ModuleList(
            ConvNeXtBlock(dim, ffn_dim, kernel_size, scale, causal, pad_mode)
            for _ in range(num_layers)
        )
        self.output_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor, state: DecoderState | None = None
                ) -> tuple[Tensor, DecoderState]:
        x = x.transpose(1, 2)
        ctx: Tensor | None = None
        if self.causal:
            x, ctx = causal_pad(x, state[0] if state else None, self.kernel_size - 1,
                                self.pad_mode)
        x = channels_last_norm(self.input_norm, self.embedding(x))
        new_state: DecoderState = [ctx]
        for i, layer in enumerate(self.layers):
            x, ctx = layer(x, state[i + 1] if state else None)
            new_state.append(ctx)
        return self.output_norm(x.transpose(1, 2)), new_state


class WaveNeXtHead(nn.Module):
    """Linear(dim -> hop) per frame, frames concatenated, clamped to [-1, 1]."""

    def __init__(self, dim: int, hop_length: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hop_length)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).reshape(x.shape[0], -1).clamp(-1.0, 1.0)


class WaveNeXt(nn.Module):
    """WaveNeXt decoder: features (B, T, input_dim) -> waveform (B, T * hop_length)."""

    def __init__(self, input_dim: int = 1024, num_layers: int = 8, dim: int = 1024,
                 ffn_dim: int = 2048, kernel_size: int = 7, layerscale_init: float | None = None,
                 hop_length: int = 480, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.hop_length = hop_length
        self.backbone = Backbone(input_dim, num_layers, dim, ffn_dim, kernel_size,
                                 layerscale_init, causal, pad_mode="constant")
        self.head = WaveNeXtHead(dim, hop_length)

    def forward(self, x: Tensor, state: DecoderState | None = None
                ) -> tuple[Tensor, DecoderState]:
        h, state = self.backbone(x, state)
        return self.head(h), state


class ISTFTHead(nn.Module):
    """Linear(dim -> n_fft + 2) to log-magnitude and phase, then an inverse STFT.

    Non-causal: Hann-windowed overlap-add normalised by the window envelope, trimmed to T * hop.
    Causal: the last ``hop`` samples of each unwindowed inverse FFT frame.

    With ``absolute_phase`` the predicted phase of bin k in frame t is taken relative to the
    stream's time origin rather than to the frame: 2 pi k (t * hop mod n_fft) / n_fft is added.
    A time-invariant network can then hold a steady tone at any bin with a constant output;
    with frame-relative phase it can only do so at multiples of sample_rate / hop (50 Hz), so
    voiced speech loses its harmonics. The frame index t (mod n_fft / gcd(hop, n_fft)) is the
    head's only state.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int, causal: bool,
                 absolute_phase: bool = False) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.causal = causal
        self.absolute_phase = absolute_phase
        self.phase_period = n_fft // math.gcd(hop_length, n_fft)
        self.proj = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def phase_ramp(self, frame0: Tensor, num_frames: int) -> Tensor:
        """Phase (B, T, n_fft // 2 + 1) in radians that moves frames 'frame0 + t' to time 0."""
        t = frame0.reshape(-1, 1) + torch.arange(num_frames, device=frame0.device)
        k = torch.arange(self.n_fft // 2 + 1, device=frame0.device)
        # Integer arithmetic mod n_fft keeps the ramp exact however long the stream runs.
        turns = (t[..., None] * self.hop_length % self.n_fft) * k % self.n_fft
        return turns.float() * (2 * math.pi / self.n_fft)

    def forward(self, x: Tensor, frame0: Tensor | None = None) -> Tensor:
        """x: (B, T, dim); frame0: (B, 1) int64 index of the first frame (absolute phase only)."""
        log_mag, phase = self.proj(x).chunk(2, dim=-1)
        if self.absolute_phase:
            if frame0 is None:
                frame0 = torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device)
            phase = phase + self.phase_ramp(frame0, x.shape[1])
        spec = torch.exp(log_mag).clamp(max=100.0) * torch.complex(torch.cos(phase),
                                                                   torch.sin(phase))
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1)  # (B, T, n_fft)
        if self.causal:
            return frames[..., -self.hop_length :].reshape(x.shape[0], -1)
        B, T, _ = frames.shape
        size = (T - 1) * self.hop_length + self.n_fft
        trim = (self.n_fft - self.hop_length) // 2
        window: Tensor = self.window  # type: ignore[assignment]

        def overlap_add(cols: Tensor) -> Tensor:
            return nn.functional.fold(cols, output_size=(1, size), kernel_size=(1, self.n_fft),
                                      stride=(1, self.hop_length))[:, 0, 0, trim:-trim]

        sig = overlap_add((frames * window).transpose(1, 2))
        envelope = overlap_add((window**2).expand(1, T, -1).transpose(1, 2))
        return sig / envelope


class Vocos(nn.Module):
    """Vocos decoder: features (B, T, input_dim) -> waveform (B, T * hop_length)."""

    def __init__(self, input_dim: int = 1024, num_layers: int = 8, dim: int = 512,
                 ffn_dim: int = 1536, kernel_size: int = 7, layerscale_init: float | None = None,
                 n_fft: int = 1024, hop_length: int = 320, causal: bool = False,
                 absolute_phase: bool = False, **deprecated: Any) -> None:
        super().__init__()
        unknown = set(deprecated) - {"input_channels", "padding"}
        if unknown:
            raise TypeError(f"unknown Vocos options: {sorted(unknown)}")
        if deprecated.get("input_channels") is not None:
            input_dim = int(deprecated["input_channels"])
        self.causal = causal
        self.hop_length = hop_length
        self.backbone = Backbone(input_dim, num_layers, dim, ffn_dim, kernel_size,
                                 layerscale_init, causal, pad_mode="replicate")
        self.head = ISTFTHead(dim, n_fft, hop_length, causal, absolute_phase)

    def forward(self, x: Tensor, state: DecoderState | None = None
                ) -> tuple[Tensor, DecoderState]:
        """x: (B, T, input_dim) -> (B, T * hop). With absolute phase the state ends with the
        next frame's index (B, 1), kept modulo the ramp's period."""
        h, new_state = self.backbone(x, state)
        if not self.head.absolute_phase:
            return self.head(h), new_state
        frame0 = state[-1] if state else None
        if frame0 is None:
            frame0 = torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device)
        new_state.append((frame0 + x.shape[1]) % self.head.phase_period)
        return self.head(h, frame0), new_state

