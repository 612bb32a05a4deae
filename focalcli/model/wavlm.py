"""WavLM encoder: 16 kHz waveform -> 50 Hz features, causal (chunked attention) or bidirectional.

The front end is WavLM's strided convolution stack (``frontend="conv"``, the reference) or, for
small models trained on little data, a fixed causal log-mel analysis (``frontend="logmel"``) that
spares the network learning a filterbank from raw samples.

Streaming state of the causal encoder (``WavLMState``): one context tensor per causal front-end
stage (7 convolution blocks, or the log-mel analysis window) plus one for the positional
convolution and, per transformer layer, the keys and values of the last
``window_size - chunk_frames`` frames. Its size is bounded: nothing grows with the length of the
stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from focalcli.model.geometry import (
    DEFAULT_CAUSAL,
    DEFAULT_FRONTEND,
    DEFAULT_LOOKAHEAD_FRAMES,
    DEFAULT_MEL_HOP_LENGTH,
    DEFAULT_STRIDES,
    MEL_STACK,
    SAMPLE_RATE_INPUT_HZ,
)
from focalcli.model.layers import FeedForward, causal_pad, channels_last_norm, mel_filterbank
from focalcli.model.pitch import frames_to_pitch

SAMPLE_RATE = SAMPLE_RATE_INPUT_HZ


#: frames of spare room in a key/value buffer: appending a chunk writes into it in place, and the
#: kept window is copied to a fresh buffer only once the room is used up (every 64 chunks of 4)
KV_SPARE_FRAMES = 256


class KVWindow:
    """One layer's cached keys and values: frames ``[start, end)`` of a pair of buffers
    (B, H, capacity, head_dim) that later frames are appended to without copying the past.

    Buffers are shared by successive states of one stream and written only past the newest
    window's end (``tip``), so a window, once returned, never changes: extending any window
    but the newest (a state resumed twice), extending a full buffer, or extending with
    gradients enabled (where in-place writes would break autograd) copies the window into
    fresh buffers first.
    """

    def __init__(self, keys: Tensor, values: Tensor, start: int, end: int, tip: list[int]
                 ) -> None:
        self.buffers = (keys, values)
        self.start, self.end = start, end
        self.tip = tip  # [frames written into the buffers], shared by their windows

    @classmethod
    def of(cls, keys: Tensor, values: Tensor) -> KVWindow:
        """A window over exactly ``keys`` / ``values`` (B, H, S, hd), with no spare room."""
        return cls(keys, values, 0, keys.shape[2], [keys.shape[2]])

    def view(self) -> tuple[Tensor, Tensor]:
        """``(keys, values)``, each (B, H, end - start, head_dim), views of the buffers."""
        k, v = self.buffers
        return k[:, :, self.start : self.end], v[:, :, self.start : self.end]

    def extended(self, k: Tensor, v: Tensor, keep: int) -> tuple[Tensor, Tensor, KVWindow]:
        """Append T new frames (B, H, T, hd).

        Returns ``(all keys, all values)`` (B, H, S + T, hd) and the window of the last
        ``keep`` frames.
        """
        T = k.shape[2]
        size = self.end - self.start
        buf_k, buf_v = self.buffers
        if (self.tip[0] != self.end or self.end + T > buf_k.shape[2]
                or torch.is_grad_enabled()):
            B, H, _, D = buf_k.shape
            capacity = size + T + (0 if torch.is_grad_enabled() else KV_SPARE_FRAMES)
            old_k, old_v = self.view()
            buf_k = buf_k.new_empty(B, H, capacity, D)
            buf_v = buf_v.new_empty(B, H, capacity, D)
            buf_k[:, :, :size] = old_k
            buf_v[:, :, :size] = old_v
            start, end, tip = 0, size, [size]
        else:
            start, end, tip = self.start, self.end, self.tip
        buf_k[:, :, end : end + T] = k
        buf_v[:, :, end : end + T] = v
        tip[0] = end + T
        new = KVWindow(buf_k, buf_v, max(start, end + T - keep), end + T, tip)
        return buf_k[:, :, start : end + T], buf_v[:, :, start : end + T], new


@dataclass
class WavLMState:
    """Streaming state.

    conv_ctx: one context per causal front-end stage (B, C, k-1), then the positional one.
    keys, values: per transformer layer (B, H, S, head_dim), S <= window_size - chunk_frames
        (views of ``windows``).
    windows: per transformer layer, where those keys and values are kept (see ``KVWindow``);
        None in a state built from ``keys`` and ``values`` alone.
    """

    conv_ctx: list[Tensor | None]
    keys: list[Tensor]
    values: list[Tensor]
    windows: list[KVWindow] | None = None

    def tensors(self) -> list[Tensor]:
        return [t for t in self.conv_ctx if t is not None] + self.keys + self.values


class ConvBlock(nn.Module):
    """Conv1d (no bias) -> LayerNorm over channels -> GELU, on (B, C, T)."""

    def __init__(self, input_dim: int, output_dim: int, kernel_size: int, stride: int,
                 causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(input_dim, output_dim, kernel_size, stride, bias=False)
        self.norm = nn.LayerNorm(output_dim)
        self.activation = nn.GELU()

    def forward(self, x: Tensor, ctx: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if self.causal:
            x, ctx = causal_pad(x, ctx, self.kernel_size - 1)
        elif x.shape[-1] < self.kernel_size:
            x = nn.functional.pad(x, (0, self.kernel_size - x.shape[-1]))
        return self.activation(channels_last_norm(self.norm, self.conv(x))), ctx


class FeatureExtractor(nn.Module):
    """Stack of strided ConvBlocks: (B, 1, T) samples -> (B, C, T / prod(strides)) frames."""

    def __init__(self, hidden_dims: Sequence[int], kernel_sizes: Sequence[int],
                 strides: Sequence[int], causal: bool) -> None:
        super().__init__()
        dims = [1, *hidden_dims]
        self.layers = nn.ModuleList(
            ConvBlock(dims[i], dims[i + 1], k, s, causal)
            for i, (k, s) in enumerate(zip(kernel_sizes, strides, strict=True))
        )
        self.output_dim = dims[-1]
        self.downsample_factor = math.prod(strides)

    def forward(self, x: Tensor, ctxs: Sequence[Tensor | None] | None = None
                ) -> tuple[Tensor, list[Tensor | None]]:
        """x: (B, 1, N) -> ``(frames (B, C, ceil(N / factor)), one context per block)``."""
        new_ctxs: list[Tensor | None] = []
        for i, layer in enumerate(self.layers):
            x, ctx = layer(x, ctxs[i] if ctxs else None)
            new_ctxs.append(ctx)
        return x, new_ctxs


class LogMelFrontEnd(nn.Module):
    """Causal log-mel analysis: (B, 1, N) samples -> (B, stack * n_mels, ceil(N / (hop * stack))).

    Sub-frame ``j`` is the Hann-windowed ``n_fft`` samples ending at sample ``(j + 1) * hop``
    (zeros before the start of the stream), so no sample after a frame's end is used; ``stack``
    consecutive sub-frames are concatenated into one frame. The input is zero-padded at the end to
    a multiple of ``hop * stack``. The filters and window are fixed, so it has no weights.

    With ``pitch``, each frame also gets two pitch features from :func:`frames_to_pitch` on
    the two frames of samples ending at its end, so they use no later sample either.

    State: the last ``context`` input samples, (B, 1, context): ``n_fft - hop``, or one frame
    if that is longer and ``pitch`` is on.
    """

    # log-mel of speech at -40 to -10 dBFS lies roughly in [-11, 2]; this maps it near [-1, 1]
    LOG_OFFSET = 5.0
    LOG_SCALE = 5.0
    window: Tensor
    filters: Tensor

    def __init__(self, n_mels: int, n_fft: int, hop_length: int, stack: int,
                 sample_rate: int, pitch: bool = False) -> None:
        super().__init__()
        if not 0 < hop_length <= n_fft:
            raise ValueError(f"mel hop_length must be in 1..n_fft, got {hop_length}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.stack = stack
        self.pitch = pitch
        self.sample_rate = sample_rate
        self.output_dim = stack * n_mels + (2 if pitch else 0)
        self.downsample_factor = hop_length * stack
        # Context kept between calls: what the mel window and the pitch window reach back.
        self.context = max(n_fft - hop_length, self.downsample_factor if pitch else 0)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=False), persistent=False)
        self.register_buffer("filters", mel_filterbank(n_fft, n_mels, sample_rate).T,
                             persistent=False)

    def forward(self, x: Tensor, ctxs: Sequence[Tensor | None] | None = None
                ) -> tuple[Tensor, list[Tensor | None]]:
        pad_end = -x.shape[-1] % self.downsample_factor
        if pad_end:
            x = nn.functional.pad(x, (0, pad_end))
        x, ctx = causal_pad(x, ctxs[0] if ctxs else None, self.context, mode="constant")
        mel_in = x[:, 0, self.context - (self.n_fft - self.hop_length) :]
        frames = mel_in.unfold(-1, self.n_fft, self.hop_length)  # (B, N / hop, n_fft)
        mags = torch.fft.rfft(frames * self.window).abs()
        logmel = (torch.log(mags @ self.filters + 1e-5) + self.LOG_OFFSET) / self.LOG_SCALE
        B, S, M = logmel.shape
        feats = logmel.reshape(B, S // self.stack, self.stack * M)
        if self.pitch:
            feats = torch.cat([feats, self.pitch_features(x[:, 0])], -1)
        return feats.transpose(1, 2), [ctx]

    def pitch_features(self, x: Tensor) -> Tensor:
        """Context-padded samples (B, context + N) -> (B, N / frame, 2): log-f0 in octaves
        around 150 Hz (0 when aperiodic) and periodicity, from a window of two frames that ends
        where each frame ends."""
        frame = self.downsample_factor
        frames = x[:, self.context - frame :].unfold(-1, 2 * frame, frame)
        log_f0, periodicity, _ = frames_to_pitch(frames, self.sample_rate)
        octaves = (log_f0 - math.log(150.0)) / math.log(2.0)
        return torch.stack([octaves * periodicity, periodicity], -1)


class ConvPositionalEmbedding(nn.Module):
    """Grouped convolution + GELU giving a positional signal that is added to the features."""

    def __init__(self, dim: int, kernel_size: int, groups: int, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.kernel_size = kernel_size
        padding = 0 if causal else kernel_size // 2
        self.conv = nn.Conv1d(dim, dim, kernel_size, padding=padding, groups=groups)
        self.activation = nn.GELU()

    def forward(self, x: Tensor, ctx: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x: (B, C, T) -> (B, C, T)."""
        if self.causal:
            x, ctx = causal_pad(x, ctx, self.kernel_size - 1)
        y = self.conv(x)
        if not self.causal and self.kernel_size % 2 == 0:
            y = y[..., :-1]
        return self.activation(y), ctx


class MultiHeadAttention(nn.Module):
    """Self-attention with WavLM's gated relative position bias ("gru_rel_pos")."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.gru_rel_pos_linear = nn.Linear(self.head_dim, 8)
        self.gru_rel_pos_const = nn.Parameter(torch.ones(1, num_heads, 1, 1))

    def forward(self, x: Tensor, position_bias: Tensor, mask: Tensor | None,
                past_k: Tensor | None = None, past_v: Tensor | None = None,
                window: KVWindow | None = None, keep: int = 0
                ) -> tuple[Tensor, Tensor, Tensor, KVWindow | None]:
        """Attend from the T new frames to the S past frames and themselves.

        Args:
            x: (B, T, dim) normalised input.
            position_bias: (H, T, S + T) relative position bias.
            mask: additive float mask (T, S + T) or None.
            past_k, past_v: (B, H, S, head_dim) cached keys and values, or None (S = 0).
            window: the cached keys and values as a ``KVWindow`` (in place of past_k/past_v),
                to which the new ones are appended; the returned window keeps the last
                ``keep`` frames.

        Returns:
            ``(output (B, T, dim), keys (B, H, S + T, hd), values (B, H, S + T, hd),
            the new window or None when none was given)``.
        """
        B, T, _ = x.shape
        qkv = self.qkv_proj(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(dim=2))
        new_window = None
        if window is not None:
            k, v, new_window = window.extended(k, v, keep)
        elif past_k is not None and past_v is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        heads = x.reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        gates = self.gru_rel_pos_linear(heads).reshape(B, self.num_heads, T, 2, 4).sum(-1)
        gate_a, gate_b = torch.sigmoid(gates).chunk(2, dim=-1)
        gate = gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0
        bias = gate * position_bias
        if mask is not None:
            bias = bias + mask
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(out.transpose(1, 2).reshape(B, T, -1)), k, v, new_window


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, num_heads, dropout)
        self.dropout = nn.Dropout(dropout)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim, ffn_dim, dropout)

    def forward(self, x: Tensor, position_bias: Tensor, mask: Tensor | None,
                past_k: Tensor | None = None, past_v: Tensor | None = None,
                window: KVWindow | None = None, keep: int = 0
                ) -> tuple[Tensor, Tensor, Tensor, KVWindow | None]:
        """x: (B, T, dim) -> (B, T, dim), plus all keys and values and the new window (see
        MultiHeadAttention)."""
        h, k, v, window = self.attention(self.attention_norm(x), position_bias, mask, past_k,
                                         past_v, window, keep)
        x = x + self.dropout(h)
        return x + self.feed_forward(self.feed_forward_norm(x)), k, v, window


class TransformerEncoder(nn.Module):
    """Positional convolution + relative-bias transformer layers (no final norm)."""

    def __init__(self, num_layers: int, dim: int, ffn_dim: int, num_heads: int,
                 num_buckets: int, max_distance: int, dropout: float, conv_pos: int,
                 conv_pos_groups: int, causal: bool) -> None:
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.positional_embedding = ConvPositionalEmbedding(dim, conv_pos, conv_pos_groups, causal)
        self.relative_embedding = nn.Embedding(num_buckets, num_heads)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, ffn_dim, num_heads, dropout) for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def relative_bucket(self, offsets: Tensor) -> Tensor:
        """Map relative offsets (key - query, int64) to bucket indices, as WavLM does."""
        half = self.num_buckets // 2
        exact = half // 2
        buckets = (offsets > 0).long() * half
        dist = offsets.abs()
        large = (dist.float() / exact).log() / math.log(self.max_distance / exact)
        large = (large * (half - exact) + exact).long().clamp(max=half - 1)
        return buckets + torch.where(dist < exact, dist, large)

    def position_bias(self, query_pos: Tensor, key_pos: Tensor) -> Tensor:
        """(H, Tq, Tk) bias for the given absolute frame positions (computed per call)."""
        buckets = self.relative_bucket(key_pos[None, :] - query_pos[:, None])
        return self.relative_embedding(buckets).permute(2, 0, 1)


class WavLM(nn.Module):
    """WavLM-style encoder; constructor arguments are the reference's ``encoder_config`` keys."""

    def __init__(
        self,
        hidden_dims: Sequence[int] = (512,) * 7,
        kernel_sizes: Sequence[int] = (10, 3, 3, 3, 3, 2, 2),
        strides: Sequence[int] = DEFAULT_STRIDES,
        num_layers: int = 6,
        dim: int = 1024,
        ffn_dim: int = 4096,
        num_heads: int = 16,
        num_buckets: int = 320,
        max_distance: int = 800,
        max_cached_steps: int = 2048,
        dropout: float = 0.0,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        causal: bool = DEFAULT_CAUSAL,
        window_size: int = 512,
        lookahead_size: int = DEFAULT_LOOKAHEAD_FRAMES,
        use_flex_attention: bool = False,
        frontend: str = DEFAULT_FRONTEND,
        n_mels: int = 80,
        pitch_features: bool = False,
        n_fft: int = 400,
        hop_length: int = DEFAULT_MEL_HOP_LENGTH,
    ) -> None:
        super().__init__()
        # max_cached_steps and use_flex_attention only tune the reference's speed; the bias is
        # computed here for the offsets actually used, so they are accepted and ignored.
        if max_cached_steps > 0 and max_cached_steps < window_size:
            raise ValueError("max_cached_steps must be 0 or at least window_size")
        self.causal = causal
        self.window_size = window_size
        self.chunk_frames = 1 + lookahead_size
        self.sample_rate = SAMPLE_RATE
        self.feature_extractor: FeatureExtractor | LogMelFrontEnd
        self.norm: nn.Module
        if frontend == "conv":
            self.feature_extractor = FeatureExtractor(hidden_dims, kernel_sizes, strides, causal)
            self.norm = nn.LayerNorm(hidden_dims[-1])
        elif frontend == "logmel":
            # hidden_dims, kernel_sizes and strides are unused; 2 sub-frames make one 50 Hz frame.
            # A per-frame LayerNorm would erase the level, so the fixed scaling stands in for it.
            if not causal:
                raise ValueError("frontend 'logmel' is only implemented for causal encoders")
            self.feature_extractor = LogMelFrontEnd(n_mels, n_fft, hop_length, MEL_STACK,
                                                    SAMPLE_RATE, pitch_features)
            self.norm = nn.Identity()
        else:
            raise ValueError(f"frontend must be 'conv' or 'logmel', got {frontend!r}")
        self.downsample_factor = self.feature_extractor.downsample_factor
        self.chunk_size = self.downsample_factor * self.chunk_frames
        self.feature_proj = nn.Linear(self.feature_extractor.output_dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(num_layers, dim, ffn_dim, num_heads, num_buckets,
                                          max_distance, dropout, conv_pos, conv_pos_groups, causal)

    def forward(self, sig: Tensor, state: WavLMState | None = None
                ) -> tuple[Tensor, WavLMState | None]:
        """Encode samples to features.

        Args:
            sig: (B, N) float waveform at 16 kHz. When streaming, N must be a multiple of
                ``chunk_size`` (1280 samples) so that chunk boundaries line up.
            state: the previous call's state (causal only), or None at the start of a stream.

        Returns:
            ``(feats (B, ceil(N / 320), dim), new_state)``; the state is None when not causal.
        """
        front_ctx = state.conv_ctx[:-1] if state else None
        x, conv_ctx = self.feature_extractor(sig[:, None, :], front_ctx)
        x = self.dropout(self.feature_proj(self.norm(x.transpose(1, 2))))
        enc = self.encoder
        pos, ctx = enc.positional_embedding(x.transpose(1, 2),
                                            state.conv_ctx[-1] if state else None)
        conv_ctx.append(ctx)
        x = enc.dropout(x + pos.transpose(1, 2))
        if not self.causal:
            T = x.shape[1]
            frames = torch.arange(T, device=x.device)
            bias = enc.position_bias(frames, frames).to(x.dtype)
            for layer in enc.layers:
                x, _, _, _ = layer(x, bias, None)
            return x, None

        T = x.shape[1]
        S = state.keys[0].shape[2] if state else 0
        bias, mask = self._causal_bias_and_mask(S, T, x.device, x.dtype)
        keep = self.window_size - self.chunk_frames
        keys: list[Tensor] = []
        values: list[Tensor] = []
        windows: list[KVWindow] = []
        for i, layer in enumerate(enc.layers):
            if state is None:  # the first call's keys and values are kept as they are
                x, k, v, _ = layer(x, bias, mask)
                window = KVWindow.of(k[:, :, -keep:], v[:, :, -keep:])
            else:
                past = (state.windows[i] if state.windows is not None
                        else KVWindow.of(state.keys[i], state.values[i]))
                x, _, _, new_window = layer(x, bias, mask, window=past, keep=keep)
                assert new_window is not None
                window = new_window
            windows.append(window)
            k, v = window.view()
            keys.append(k)
            values.append(v)
        return x, WavLMState(conv_ctx, keys, values, windows)

    def _causal_bias_and_mask(self, S: int, T: int, device: torch.device, dtype: torch.dtype
                              ) -> tuple[Tensor, Tensor | None]:
        """Bias (H, T, S+T) and mask (T, S+T) for T new frames after S cached ones.

        Frame ``S + i`` sees keys in ``[e - window, e)`` where ``e`` is the end of its
        ``chunk_frames``-aligned chunk (capped at ``S + T``): the rest of its own chunk is the
        look-ahead, and at most ``window_size`` frames are visible in all.
        """
        query = torch.arange(S, S + T, device=device)
        key = torch.arange(S + T, device=device)
        bias = self.encoder.position_bias(query, key).to(dtype)
        end = ((query // self.chunk_frames + 1) * self.chunk_frames).clamp(max=S + T)
        allowed = (key[None, :] < end[:, None]) & (key[None, :] >= end[:, None] - self.window_size)
        if bool(allowed.all()):
            return bias, None
        mask = torch.zeros(allowed.shape, device=device, dtype=dtype)
        return bias, mask.masked_fill(~allowed, float("-inf"))
