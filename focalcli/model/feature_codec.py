"""A bitrate-ladder codec over FARGAN's features: the modules ``FocalCodec`` plugs into its roles.

encoder -> compressor -> quantizer -> decompressor -> decoder, at 50 tokens/s (20 ms, 320
samples at 16 kHz per token)::

    sig     (B, N)        16 kHz float waveform in [-1, 1], N a multiple of 320
    feats   (B, T, 40)    LPCNetEncoder: the 20 LPCNet features of each of a token's two 10 ms
                          frames (18 Bark-band cepstral coefficients, pitch, pitch correlation),
                          raw units, T = N / 320
    lats    (B, T, 48)    FeatureCompressor: standardised features -> 4 groups of 12 latents
    codes   (B, T, 48)    the grouped BinarySphericalQuantizer's codes (zero for unsent groups)
    qfeats  (B, T, 40)    FeatureDecompressor: codes -> raw features; output token t describes
                          input token t - ``delay_tokens``
    out     (B, T * 320)  FARGANDecoder: FARGAN on the 2 T frames, 160 samples each

Every module is causal and streams: ``forward(x, state)`` returns ``(y, new_state)``; calls
over consecutive pieces give the same output as one call over the whole (the encoder's pieces
must be whole tokens). Output lengths never depend on the chunking: T tokens in, T tokens (or
T * 320 samples) out.

Decoder timing: FARGAN starts a stream by priming on 5 frames (``FARGAN.prime``, no output).
``FARGANDecoder`` skips the first ``skip_tokens`` tokens (set to the decompressor's delay D:
their features describe time before the stream started), primes on the next 5 frames, and
emits zeros for all of these (2 D + 5 frames), then FARGAN's samples frame by frame. This is
what ``focalcli.train.vocoder_probe.feats_to_wav`` does with the delay-corrected features,
shifted by D tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import torch
from torch import Tensor, nn

from focalcli.model.fargan import (
    FARGAN,
    FRAME_SIZE,
    NB_FEATURES,
    PITCH_FEATURE,
    PRIME_FRAMES,
    FARGANConfig,
    FARGANState,
)
from focalcli.model.geometry import (
    FARGAN_OUTPUT_LAG_SAMPLES,
    FEATURE_FRAMES_PER_TOKEN,
    FEATURE_SAMPLES_PER_TOKEN,
    FEATURE_TOKEN_DIM,
    LPCNET_DEFAULT_CHUNK_FRAMES,
    SAMPLE_RATE_INPUT_HZ,
)

#: the pitch feature the decoder passes to FARGAN is clamped to this range: periods of 32 to
#: 256 samples, the pitch range of LPCNet's analysis (dev data: 37 to 251)
PITCH_FEATURE_RANGE = (-1.5, 1.5)

BlockState = list[Tensor | None]  # [convolution context, GRU state]: one "layer" of state


@dataclass(frozen=True)
class ScalarField:
    """A feature sent as a plain number rather than learned bits: the mean of feature ``index``
    (0..19) over a token's two frames, uniform over [``lo``, ``hi``] in ``bits`` bits, most
    significant first. Config form: ``[index, lo, hi, bits]``."""

    index: int
    lo: float
    hi: float
    bits: int

    @property
    def step(self) -> float:
        return (self.hi - self.lo) / (2**self.bits - 1)


def scalar_fields(spec: Any) -> tuple[ScalarField, ...]:
    """Config ``[[index, lo, hi, bits], ...]`` -> fields; ValueError for one that cannot be."""
    out = []
    for item in spec or ():
        try:
            index, lo, hi, bits = int(item[0]), float(item[1]), float(item[2]), int(item[3])
            ok = len(item) == 4 and 0 <= index < NB_FEATURES and lo < hi and 1 <= bits <= 16
        except (TypeError, ValueError, IndexError, KeyError):
            ok = False
        if not ok:
            raise ValueError(f"scalar field {item!r}: expected [index 0..19, lo < hi, bits 1..16]")
        out.append(ScalarField(index, lo, hi, bits))
    return tuple(out)


def feats_to_scalar_codes(feats: Tensor, fields_: tuple[ScalarField, ...], scale: float
                          ) -> Tensor:
    """Raw features (B, T, 40) -> codes (B, T, sum of bits) of +-``scale``, fields in order."""
    out = []
    for f in fields_:
        mean = 0.5 * (feats[..., f.index] + feats[..., NB_FEATURES + f.index])
        q = ((mean - f.lo) / f.step).round().clamp(0, 2**f.bits - 1).long()
        weights = 2 ** torch.arange(f.bits - 1, -1, -1, device=feats.device)
        out.append((q[..., None] // weights) % 2)
    return (torch.cat(out, dim=-1).to(feats.dtype) * 2 - 1) * scale


def scalar_codes_to_values(codes: Tensor, fields_: tuple[ScalarField, ...]) -> Tensor:
    """Codes (B, T, >= sum of bits), fields first -> dequantised values (B, T, len(fields))."""
    out, first = [], 0
    for f in fields_:
        weights = 2 ** torch.arange(f.bits - 1, -1, -1, device=codes.device)
        q = ((codes[..., first : first + f.bits] > 0).long() * weights).sum(-1)
        out.append(f.lo + q.to(codes.dtype) * f.step)
        first += f.bits
    return torch.stack(out, dim=-1)


def with_scalar_codes(lats: Tensor, feats: Tensor, fields_: tuple[ScalarField, ...],
                      group_dim: int) -> Tensor:
    """Learned latents (B, T, W - S) and raw features (B, T, 40) -> (B, T, W): group 0 starts
    with the fields' S code bits (+-1/sqrt(group_dim)), then the group's first group_dim - S
    learned latents scaled to the rest of its unit norm; the other groups as they came."""
    G, S = group_dim, sum(f.bits for f in fields_)
    first = nn.functional.normalize(lats[..., : G - S], dim=-1) * ((G - S) / G) ** 0.5
    codes = feats_to_scalar_codes(feats, fields_, G**-0.5)
    return torch.cat([codes, first, lats[..., G - S :]], dim=-1)


def scalar_inputs_and_base(codes: Tensor, fields_: tuple[ScalarField, ...], mean: Tensor,
                           std: Tensor) -> tuple[Tensor, Tensor]:
    """Codes (B, T, >= sum of bits) -> (standardised dequantised values (B, T, len(fields)),
    the residual base (B, T, 40): those values at both frames' columns, zero elsewhere), with
    the decompressor's ``mean`` / ``std`` (40,)."""
    values = scalar_codes_to_values(codes, fields_)
    base = codes.new_zeros(*codes.shape[:-1], mean.shape[0])
    inputs = []
    for i, f in enumerate(fields_):
        cols = [f.index, NB_FEATURES + f.index]
        std_value = (values[..., i : i + 1] - mean[cols]) / std[cols]
        base[..., cols] = std_value
        inputs.append(std_value[..., :1])
    return torch.cat(inputs, dim=-1), base


def state_tensors(state: Any) -> list[Tensor]:
    """Every tensor inside a state: a tensor, a list/tuple/dict of them, a dataclass, or an
    object with ``tensors()``; None and other values hold none."""
    if state is None:
        return []
    if isinstance(state, Tensor):
        return [state]
    if hasattr(state, "tensors"):
        return list(state.tensors())
    if isinstance(state, dict):
        return [t for v in state.values() for t in state_tensors(v)]
    if isinstance(state, list | tuple):
        return [t for v in state for t in state_tensors(v)]
    if is_dataclass(state) and not isinstance(state, type):
        return [t for f in fields(state) for t in state_tensors(getattr(state, f.name))]
    return []


class CausalBlock(nn.Module):
    """(B, T, in_dim) -> (B, T, out_dim): linear, GELU, causal convolution over ``kernel``
    steps, GRU, and a linear output of GRU and convolution. State: (convolution context
    (B, dim, kernel - 1), GRU state (1, B, gru_dim))."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, gru_dim: int, kernel: int = 3
                 ) -> None:
        super().__init__()
        self.kernel = kernel
        self.in_proj = nn.Linear(in_dim, dim)
        self.conv = nn.Conv1d(dim, dim, kernel)
        self.gru = nn.GRU(dim, gru_dim, batch_first=True)
        self.out = nn.Linear(gru_dim + dim, out_dim)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = nn.functional.gelu(self.in_proj(x)).transpose(1, 2)
        ctx = h.new_zeros(h.shape[0], h.shape[1], self.kernel - 1) if state is None else state[0]
        h = torch.cat([ctx, h], dim=2)
        new_ctx = h[:, :, h.shape[2] - (self.kernel - 1) :]
        c = nn.functional.gelu(self.conv(h)).transpose(1, 2)
        g, hidden = self.gru(c, None if state is None else state[1])
        return self.out(torch.cat([g, c], dim=-1)), (new_ctx, hidden)


def _block_state(state: list[BlockState] | None) -> tuple[Tensor, Tensor] | None:
    if not state:
        return None
    ctx, hidden = state[0]
    assert ctx is not None and hidden is not None
    return ctx, hidden


# -- encoder ------------------------------------------------------------------------------------
def make_analysis(**config: Any) -> Any:
    """The LPCNet feature analysis the encoder wraps (``lpcnet_analysis.LPCNetAnalysis``)."""
    from focalcli.model.lpcnet_analysis import LPCNetAnalysis

    return LPCNetAnalysis(**config)


@dataclass
class LPCNetEncoderState:
    """The analysis' own streaming state (whatever ``initial_state`` returned)."""

    analysis: Any

    def tensors(self) -> list[Tensor]:
        return state_tensors(self.analysis)


class LPCNetEncoder(nn.Module):
    """16 kHz samples (B, N) -> LPCNet features (B, N / 320, 40): two 10 ms frames per token.

    Wraps an analysis with ``initial_state(batch)`` and ``sig_to_feats(sig (B, n), state) ->
    (feats (B, n // 160, 20), new state)`` (``analysis_config`` are its constructor's keyword
    arguments; its PitchDNN weights are this module's ``analysis.*`` parameters). A call whose
    length is not a whole number of tokens is zero-padded to one, so only the last call of a
    stream may end inside a token. ``chunk_frames`` tokens make one streaming chunk.
    """

    causal = True

    def __init__(self, chunk_frames: int = LPCNET_DEFAULT_CHUNK_FRAMES,
                 analysis_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
        self.sample_rate = SAMPLE_RATE_INPUT_HZ
        self.downsample_factor = FEATURE_SAMPLES_PER_TOKEN
        self.chunk_frames = chunk_frames
        self.chunk_size = self.downsample_factor * chunk_frames
        self.output_dim = FEATURE_TOKEN_DIM
        self.analysis = make_analysis(**(analysis_config or {}))

    def forward(self, sig: Tensor, state: LPCNetEncoderState | None = None
                ) -> tuple[Tensor, LPCNetEncoderState]:
        """(B, N) -> ((B, ceil(N / 320), 40) raw features, new state)."""
        B = sig.shape[0]
        pad = -sig.shape[1] % self.downsample_factor
        if pad:
            sig = nn.functional.pad(sig, (0, pad))
        inner = self.analysis.initial_state(B) if state is None else state.analysis
        feats, inner = self.analysis.sig_to_feats(sig, inner)
        T = sig.shape[1] // self.downsample_factor
        return feats.reshape(B, T, self.output_dim), LPCNetEncoderState(inner)


# -- compressor and decompressor -------------------------------------------------------------
class FeatureCompressor(nn.Module):
    """Raw features (B, T, input_dim) -> latents (B, T, output_dim), causal.

    Standardises with the ``mean`` / ``std`` buffers (input_dim,), then a ``CausalBlock``.
    With ``scalars`` (``ScalarField`` specs, S bits in all, S < ``group_dim``), group 0 starts
    with those fields' codes and the block learns the other ``output_dim`` - S latents, the
    group's first ``group_dim`` - S of them normalised to the rest of the group's unit norm.
    State: ``[[convolution context (B, dim, kernel - 1), GRU state (1, B, gru_dim)]]``.
    """

    causal = True
    downscale_factors = (1,)

    def __init__(self, input_dim: int = FEATURE_TOKEN_DIM, output_dim: int = 48,
                 dim: int = 256, gru_dim: int = 256, kernel: int = 3, group_dim: int = 12,
                 scalars: Any = ()) -> None:
        super().__init__()
        self.latent_dim = output_dim
        self.group_dim = group_dim
        self.scalars = scalar_fields(scalars)
        self.scalar_bits = sum(f.bits for f in self.scalars)
        if self.scalar_bits >= min(group_dim, output_dim):
            raise ValueError(f"scalar fields take {self.scalar_bits} bits: they must leave "
                             f"learned bits in a group of {group_dim}")
        self.block = CausalBlock(input_dim, output_dim - self.scalar_bits, dim, gru_dim, kernel)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))
        self.mean: Tensor
        self.std: Tensor

    def forward(self, feats: Tensor, state: list[BlockState] | None = None
                ) -> tuple[Tensor, list[BlockState]]:
        lats, (ctx, hidden) = self.block((feats - self.mean) / self.std, _block_state(state))
        if self.scalars:
            lats = with_scalar_codes(lats, feats, self.scalars, self.group_dim)
        return lats, [[ctx, hidden]]


class FeatureDecompressor(nn.Module):
    """Codes (B, T, input_dim) -> raw features (B, T, output_dim), causal.

    A ``CausalBlock`` predicts standardised features, which the ``mean`` / ``std`` buffers
    (output_dim,) map back. Output token t describes input token t - ``delay_tokens``. With
    ``scalars`` (the compressor's), the codes' first bits are dequantised, given to the block
    as extra inputs (standardised) and used as the base its prediction of both frames' field
    is a residual on; ``scalar_offset``: where in the codes those bits start (the hybrid
    ladder's group 1). State: ``[[convolution context (B, dim, kernel - 1), GRU state (1, B,
    gru_dim)]]``.
    """

    causal = True
    upscale_factors = (1,)

    def __init__(self, input_dim: int = 48, output_dim: int = FEATURE_TOKEN_DIM,
                 dim: int = 256, gru_dim: int = 384, kernel: int = 3,
                 delay_tokens: int = 0, scalars: Any = (), scalar_offset: int = 0) -> None:
        super().__init__()
        if not isinstance(delay_tokens, int) or delay_tokens < 0:
            raise ValueError(f"delay_tokens must be an integer >= 0, got {delay_tokens!r}")
        self.latent_dim = input_dim
        self.delay_tokens = delay_tokens
        self.scalars = scalar_fields(scalars)
        self.scalar_offset = scalar_offset
        scalar_bits = sum(f.bits for f in self.scalars)
        if not isinstance(scalar_offset, int) or not 0 <= scalar_offset < input_dim:
            raise ValueError(f"scalar_offset must be an integer in [0, {input_dim}), got "
                             f"{scalar_offset!r}")
        if scalar_bits >= input_dim - scalar_offset:
            raise ValueError(f"scalar fields take {scalar_bits} bits of {input_dim} codes: "
                             "they must leave learned bits")
        self.block = CausalBlock(input_dim + len(self.scalars), output_dim, dim, gru_dim, kernel)
        self.register_buffer("mean", torch.zeros(output_dim))
        self.register_buffer("std", torch.ones(output_dim))
        self.mean: Tensor
        self.std: Tensor

    def forward(self, codes: Tensor, state: list[BlockState] | None = None
                ) -> tuple[Tensor, list[BlockState]]:
        if not self.scalars:
            y, (ctx, hidden) = self.block(codes, _block_state(state))
            return y * self.std + self.mean, [[ctx, hidden]]
        inputs, base = scalar_inputs_and_base(codes[..., self.scalar_offset :], self.scalars,
                                              self.mean, self.std)
        y, (ctx, hidden) = self.block(torch.cat([codes, inputs], dim=-1), _block_state(state))
        return (y + base) * self.std + self.mean, [[ctx, hidden]]


# -- decoder ------------------------------------------------------------------------------------
@dataclass
class FARGANDecoderState:
    """frames_in: frames consumed so far (skipped and priming ones included); pending: the
    priming frames gathered so far (B, < 5, 20); fargan: FARGAN's state once primed, else None.
    """

    frames_in: int
    pending: Tensor
    fargan: FARGANState | None = None

    def tensors(self) -> list[Tensor]:
        return [self.pending, *state_tensors(self.fargan)]


class FARGANDecoder(nn.Module):
    """Raw features (B, T, 40) per token -> 16 kHz samples (B, T * 320), causal.

    The token's 40 values are two frames of 20 for FARGAN (``fargan_config``: FARGANConfig's
    fields; the defaults are Opus 1.5's network, whose weights are this module's ``fargan.*``).
    The first ``skip_tokens`` tokens are skipped and the next 5 frames prime FARGAN; all of
    them decode to zeros, so the output length is always 320 samples per token and a stream
    decodes the same in any chunking. The pitch feature is clamped to
    ``PITCH_FEATURE_RANGE`` (periods of 32..256 samples) before FARGAN sees it.
    """

    causal = True

    def __init__(self, fargan_config: dict[str, Any] | None = None, skip_tokens: int = 0
                 ) -> None:
        super().__init__()
        if not isinstance(skip_tokens, int) or skip_tokens < 0:
            raise ValueError(f"skip_tokens must be an integer >= 0, got {skip_tokens!r}")
        cfg = dict(fargan_config or {})
        if "gru_dims" in cfg:
            cfg["gru_dims"] = tuple(cfg["gru_dims"])
        self.fargan = FARGAN(FARGANConfig(**cfg))
        self.skip_tokens = skip_tokens
        self.hop_length = FEATURE_SAMPLES_PER_TOKEN
        #: input-rate samples by which the output lags the input (see geometry)
        self.delay_samples = FARGAN_OUTPUT_LAG_SAMPLES

    def initial_state(self, batch: int) -> FARGANDecoderState:
        p = next(self.fargan.parameters())
        return FARGANDecoderState(0, p.new_zeros(batch, 0, NB_FEATURES))

    def forward(self, x: Tensor, state: FARGANDecoderState | None = None
                ) -> tuple[Tensor, FARGANDecoderState]:
        """(B, T, 40) -> ((B, T * 320), new state); ``state`` is not modified."""
        B, T, _ = x.shape
        state = state or self.initial_state(B)
        frames = x.reshape(B, T * FEATURE_FRAMES_PER_TOKEN, NB_FEATURES)
        lo, hi = PITCH_FEATURE_RANGE
        frames = torch.cat([frames[..., :PITCH_FEATURE],
                            frames[..., PITCH_FEATURE : PITCH_FEATURE + 1].clamp(lo, hi),
                            frames[..., PITCH_FEATURE + 1 :]], dim=-1)
        seen, pending, fargan = state.frames_in, state.pending, state.fargan
        silent = 0  # leading frames of this call that decode to zeros
        skip = FEATURE_FRAMES_PER_TOKEN * self.skip_tokens
        if seen < skip:
            n = min(skip - seen, frames.shape[1])
            frames, seen, silent = frames[:, n:], seen + n, silent + n
        if fargan is None and frames.shape[1]:
            n = min(PRIME_FRAMES - pending.shape[1], frames.shape[1])
            pending = torch.cat([pending, frames[:, :n]], dim=1)
            frames, seen, silent = frames[:, n:], seen + n, silent + n
            if pending.shape[1] == PRIME_FRAMES:
                fargan = self.fargan.prime(pending)
                pending = pending[:, :0]
        out = [x.new_zeros(B, silent * FRAME_SIZE)]
        if frames.shape[1]:
            assert fargan is not None
            sig, fargan = self.fargan.features_to_sig(frames, fargan)
            seen += frames.shape[1]
            out.append(sig)
        return torch.cat(out, dim=1), FARGANDecoderState(seen, pending, fargan)
