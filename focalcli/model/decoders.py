"""Waveform decoders: WaveNeXt (linear head, used by the causal models) and Vocos (iSTFT head,
optionally with a harmonic head for voiced speech).

Both share a ConvNeXt backbone over (B, T, C) features at the token rate. Streaming state: one
context (B, C, kernel-1) for the embedding convolution and one per ConvNeXt block, then what the
optional Vocos heads carry (see ``Vocos.forward_with_pitch``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from focalcli.model.geometry import (
    DEFAULT_CAUSAL,
    DEFAULT_VOCOS_HOP_LENGTH,
    DEFAULT_WAVENEXT_HOP_LENGTH,
)
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
                 hop_length: int = DEFAULT_WAVENEXT_HOP_LENGTH,
                 causal: bool = DEFAULT_CAUSAL) -> None:
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
        """x: (B, T, dim); frame0: (B, 1) int64 index of the first frame (absolute phase only,
        supplied by ``Vocos``, which keeps the count)."""
        log_mag, phase = self.proj(x).chunk(2, dim=-1)
        return self.spectrum_to_sig(log_mag, phase, frame0)

    def spectrum_to_sig(self, log_mag: Tensor, phase: Tensor, frame0: Tensor | None = None
                        ) -> Tensor:
        """Log-magnitude and phase (B, T, n_fft // 2 + 1) -> signal (B, T * hop)."""
        if self.absolute_phase:
            assert frame0 is not None, "absolute phase needs the first frame's index"
            phase = phase + self.phase_ramp(frame0, log_mag.shape[1])
        spec = torch.exp(log_mag).clamp(max=100.0) * torch.complex(torch.cos(phase),
                                                                   torch.sin(phase))
        frames = torch.fft.irfft(spec, self.n_fft, dim=-1)  # (B, T, n_fft)
        if self.causal:
            return frames[..., -self.hop_length :].reshape(log_mag.shape[0], -1)
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


class HarmonicHead(nn.Module):
    """Voiced speech as a sum of harmonics of a predicted f0, whose phase runs on across frames.

    The iSTFT head alone cannot hold a voice: a time-invariant network emits the same phase in
    every frame, so its tones only stay coherent at multiples of the frame rate and voiced
    speech comes out whispered. This head adds the voice. Per frame, Linear(dim -> 2 + K) gives
    log-f0 (octaves around 150 Hz), a voicing logit v and K log-gain corrections g_k. Harmonic k
    takes its amplitude from the iSTFT head's log-magnitude spectrum at k * f0, scaled so that
    a harmonic carries the power the spectrum holds within one f0 band, times exp(g_k) and
    sigmoid(v); harmonics at or above Nyquist are silent. The decoded signal is
    (1 - sigmoid(v)) * iSTFT output + harmonics.

    Within frame t, f0, voicing and amplitudes move linearly from frame t-1's values to frame
    t's (no future frame needed), and the phase accumulates 2 pi f0 / sample_rate per sample.

    State (B, 3 + K) float64: [phase in radians mod 2 pi, f0 in Hz, voicing, K amplitudes] at
    the end of the last frame.
    """

    def __init__(self, dim: int, hop_length: int, n_fft: int, num_harmonics: int,
                 sample_rate: int) -> None:
        super().__init__()
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.num_harmonics = num_harmonics
        self.sample_rate = sample_rate
        self.proj = nn.Linear(dim, 2 + num_harmonics)
        with torch.no_grad():  # start unvoiced, so that a warm start keeps its output
            self.proj.weight.mul_(0.1)
            self.proj.bias.zero_()
            self.proj.bias[1] = -3.0

    def pitch(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """h (B, T, dim) -> (log-f0 in log Hz, voicing logit, each (B, T); gains (B, T, K))."""
        out = self.proj(h)
        log_f0 = math.log(150.0) + out[..., 0].clamp(-2.5, 2.0) * math.log(2.0)
        return log_f0, out[..., 1], out[..., 2:].clamp(max=4.0)

    def amplitudes(self, log_mag: Tensor, f0: Tensor, gains: Tensor, voicing: Tensor
                   ) -> Tensor:
        """Harmonic amplitudes (B, T, K) from log-magnitudes (B, T, n_fft // 2 + 1), f0 (B, T)
        in Hz, gains (B, T, K) and voicing (B, T) in [0, 1]."""
        k = torch.arange(1, self.num_harmonics + 1, device=f0.device, dtype=f0.dtype)
        pos = (f0[..., None] * k * (self.n_fft / self.sample_rate))  # fractional bin
        bins = log_mag.shape[-1]
        lo = pos.floor().long().clamp(0, bins - 2)
        frac = (pos - lo).clamp(0, 1).to(log_mag.dtype)
        env = (log_mag.gather(-1, lo) * (1 - frac) + log_mag.gather(-1, lo + 1) * frac)
        # A bin of magnitude M is a sinusoid of amplitude 2M / n_fft; a harmonic stands in for
        # the f0 / (sample_rate / n_fft) bins of its band, so its power is that many bins'.
        band = (f0 * (self.n_fft / self.sample_rate)).clamp_min(1.0).sqrt().to(log_mag.dtype)
        amps = torch.exp(env + gains).clamp(max=100.0) * (2 / self.n_fft) * band[..., None]
        audible = pos < (self.n_fft / 2) * (1 - 200 / self.sample_rate)
        return amps * audible * voicing[..., None]

    def forward(self, h: Tensor, log_mag: Tensor, noise: Tensor, state: Tensor | None = None,
                f0_teacher: Tensor | None = None
                ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        """h (B, T, dim), iSTFT log-magnitudes (B, T, F) and output noise (B, T * hop) ->
        (signal (B, T * hop), new state, (log-f0, voicing logit) each (B, T)).

        ``f0_teacher`` (B, T) in Hz, NaN where unknown, replaces the predicted f0 (training).
        """
        log_f0, voicing_logit, gains = self.pitch(h)
        B, T, K = gains.shape
        # f0 is taught by the pitch target, not through the sines. Rounded to 0.01 Hz so that
        # float noise of the order of 1e-7, which the phase integrates, cannot make a stream
        # cut into pieces differ from the whole.
        f0 = torch.round(log_f0.detach().exp().double() * 100) / 100
        if f0_teacher is not None:  # cut or NaN-padded to T frames
            f0_teacher = nn.functional.pad(f0_teacher[:, :T].to(f0.dtype),
                                           (0, max(0, T - f0_teacher.shape[1])), value=math.nan)
            f0 = torch.where(f0_teacher.isnan(), f0, f0_teacher)
        voicing = torch.sigmoid(voicing_logit)
        amps = self.amplitudes(log_mag, f0, gains, voicing)
        if state is None:
            phase0 = torch.zeros(B, 1, dtype=torch.float64, device=h.device)
            f_prev0 = f0[:, :1]
            v_prev0 = torch.zeros_like(voicing[:, :1])
            a_prev0 = torch.zeros_like(amps[:, 0])
        else:
            phase0, f_prev0 = state[:, :1], state[:, 1:2]
            v_prev0, a_prev0 = state[:, 2:3].to(amps.dtype), state[:, 3:].to(amps.dtype)
        f_prev = torch.cat([f_prev0, f0[:, :-1]], 1)  # (B, T)
        v_prev = torch.cat([v_prev0, voicing[:, :-1]], 1)
        a_prev = torch.cat([a_prev0[:, None], amps[:, :-1]], 1)  # (B, T, K)
        ramp = torch.arange(1, self.hop_length + 1, device=h.device, dtype=torch.float64)
        ramp = ramp / self.hop_length  # (hop,)
        freq = f_prev[..., None] + (f0 - f_prev)[..., None] * ramp  # (B, T, hop) Hz
        within = torch.cumsum(freq, -1) * (2 * math.pi / self.sample_rate)
        step = within[..., -1]  # (B, T): phase advance over each frame
        starts = torch.remainder(phase0 + torch.cumsum(step, 1) - step, 2 * math.pi)
        phase = torch.remainder(starts[..., None] + within, 2 * math.pi)  # (B, T, hop)
        # Phases mod 2 pi are exact in float64; float32 suffices for k * phase (k <= K).
        k = torch.arange(1, K + 1, device=h.device, dtype=amps.dtype)
        sines = torch.sin(phase.to(amps.dtype)[..., None] * k)  # (B, T, hop, K)
        r = ramp.to(amps.dtype)
        voiced = ((sines @ a_prev[..., None])[..., 0] * (1 - r)
                  + (sines @ amps[..., None])[..., 0] * r)  # (B, T, hop)
        v = v_prev[..., None] + (voicing - v_prev)[..., None] * r  # (B, T, hop)
        sig = noise.reshape(B, T, -1) * (1 - v) + voiced
        end = torch.remainder(phase0[:, 0] + step.sum(1), 2 * math.pi)
        new_state = torch.cat([end[:, None], f0[:, -1:], voicing[:, -1:].detach().double(),
                               amps[:, -1].detach().double()], 1)
        return sig.reshape(B, -1), new_state, (log_f0, voicing_logit)


class Vocos(nn.Module):
    """Vocos decoder: features (B, T, input_dim) -> waveform (B, T * hop_length).

    ``harmonics`` > 0 adds a :class:`HarmonicHead` of that many harmonics to the iSTFT output
    (frames are 50 Hz in this family, so the output rate is 50 * hop_length).
    """

    def __init__(self, input_dim: int = 1024, num_layers: int = 8, dim: int = 512,
                 ffn_dim: int = 1536, kernel_size: int = 7, layerscale_init: float | None = None,
                 n_fft: int = 1024, hop_length: int = DEFAULT_VOCOS_HOP_LENGTH,
                 causal: bool = DEFAULT_CAUSAL,
                 absolute_phase: bool = False, harmonics: int = 0,
                 **deprecated: Any) -> None:
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
        self.harmonic = HarmonicHead(dim, hop_length, n_fft, harmonics, 50 * hop_length) \
            if harmonics > 0 else None

    def forward(self, x: Tensor, state: DecoderState | None = None
                ) -> tuple[Tensor, DecoderState]:
        """x: (B, T, input_dim) -> (B, T * hop)."""
        sig, new_state, _ = self.forward_with_pitch(x, state)
        return sig, new_state

    def forward_with_pitch(self, x: Tensor, state: DecoderState | None = None,
                           f0_teacher: Tensor | None = None
                           ) -> tuple[Tensor, DecoderState, tuple[Tensor, Tensor] | None]:
        """As ``forward``, plus the harmonic head's (log-f0, voicing logit), each (B, T).

        ``f0_teacher``: see :meth:`HarmonicHead.forward`.

        State: the backbone's contexts, then the next frame's index (B, 1) modulo the phase
        ramp's period if ``absolute_phase``, then the harmonic head's state if ``harmonics``.
        """
        h, new_state = self.backbone(x, state)
        extra = list(state[len(new_state):]) if state else []
        frame0 = None
        if self.head.absolute_phase:
            frame0 = extra.pop(0) if extra else None
            if frame0 is None:
                frame0 = torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device)
            new_state.append((frame0 + x.shape[1]) % self.head.phase_period)
        if self.harmonic is None:
            return self.head(h, frame0), new_state, None
        log_mag, phase = self.head.proj(h).chunk(2, dim=-1)
        noise = self.head.spectrum_to_sig(log_mag, phase, frame0)
        sig, harmonic_state, pitch = self.harmonic(h, log_mag, noise,
                                                   extra.pop(0) if extra else None, f0_teacher)
        new_state.append(harmonic_state)
        return sig, new_state, pitch

