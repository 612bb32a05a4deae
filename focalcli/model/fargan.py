"""FARGAN: a causal, pitch-driven neural vocoder from LPCNet features to 16 kHz speech.

Our PyTorch implementation of the FARGAN synthesis network of Opus 1.5 (Jean-Marc Valin,
Copyright (c) 2023 Amazon, BSD-3-Clause; see docs/fargan.md). The layer sizes, activations and
the pitch-prediction arithmetic follow Opus's ``dnn/fargan.c``; ``scripts/fargan_weights.py``
converts Opus's weights (``dnn/fargan_data.c``) into this module's state dict.

Input: 20 features per 10 ms frame (18 Bark-band cepstral coefficients, the pitch feature
``p`` with period ``round(256 / 2 ** (p + 1.5))`` samples, and the pitch correlation), as Opus's
``dump_data`` / ``lpcnet_compute_single_frame_features`` compute them. Output: 160 samples per
frame at 16 kHz, in [-1, 1] full scale.

Two networks:

* the conditioning network (``FARGANCond``), run once per frame: features and a pitch-period
  embedding -> dense -> causal convolution over 3 frames -> dense, giving 4 conditioning
  vectors, one per 40-sample sub-frame. State: the previous 2 frames' convolution inputs.
* the signal network (``FARGANSignal``), run once per sub-frame, autoregressive: from the
  conditioning vector, a gain, and the last 256 samples of its own (pre-emphasised) output it
  builds a pitch prediction (the past signal one period back, gain-normalised), passes it
  through a frame-wise convolution and three GRUs with GLU outputs, and emits 40 samples. State:
  the convolution's previous input, the three GRU states, the 256-sample excitation history and
  the de-emphasis filter's memory.

Streaming: ``FARGAN.features_to_sig(features, state)`` over consecutive chunks of frames gives
the same samples as one call over the whole sequence (the sub-frame loop is sequential anyway).
A stream starts with ``FARGAN.prime``, which consumes the first ``PRIME_FRAMES`` (5) frames
without output, as Opus's ``fargan_cont`` does.

Opus runs most layers with int8 weights and inputs rounded to multiples of 1/127, and with a
rational approximation of tanh (and of sigmoid through it). ``FARGAN.set_opus_arithmetic(True)``
reproduces both, as Opus's plain C build computes them; Opus's AVX2 build differs further by an
approximate reciprocal. The output of an autoregressive vocoder drifts apart under such small
differences, so it is the sound, not the samples, that matches beyond the first few hundred ms.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

NB_FEATURES = 20
PITCH_FEATURE = 18  # index of the pitch feature in a frame
FRAME_SIZE = 160  # samples per 10 ms frame at 16 kHz
SUBFRAMES = 4
SUBFRAME_SIZE = FRAME_SIZE // SUBFRAMES
PITCH_MAX_PERIOD = 256
PITCH_EMBED_OFFSET = 32  # the embedding table covers periods 32 .. 32 + pitch_embed_size - 1
PRIME_FRAMES = 5
DEEMPHASIS = 0.85
PRED_SIZE = SUBFRAME_SIZE + 4  # the pitch prediction reaches 2 samples either side
# Samples by which FARGAN's output lags the audio that dump_data analysed (Opus's figure).
DELAY_SAMPLES = 576


def pitch_feature_to_period(pitch: Tensor) -> Tensor:
    """Pitch feature (...) -> period (...) int64 samples, ``round(256 / 2 ** (p + 1.5))``."""
    return torch.floor(0.5 + 256.0 / torch.pow(2.0, pitch.double() + 1.5)).long()


@dataclass(frozen=True)
class FARGANConfig:
    """Layer sizes; the defaults are Opus 1.5's FARGAN (818,205 parameters)."""

    pitch_embed_size: int = 224
    pitch_embed_dim: int = 12
    cond_dense1_dim: int = 64
    cond_conv_dim: int = 128
    cond_conv_kernel: int = 3
    cond_dim: int = 80  # per sub-frame; the frame's conditioning is SUBFRAMES * cond_dim
    fwc0_dim: int = 192
    gru_dims: tuple[int, int, int] = (160, 128, 128)
    skip_dim: int = 128


def _quantise(x: Tensor) -> Tensor:
    """Round to multiples of 1/127, as Opus does to the input of an int8 matrix."""
    return torch.floor(0.5 + 127.0 * x) / 127.0


def _tanh(x: Tensor, opus: bool) -> Tensor:
    """tanh, or with ``opus`` the Pade approximation Opus's C code uses (error about 1e-4)."""
    if not opus:
        return torch.tanh(x)
    x2 = x * x
    num = (0.60863042 * x2 + 96.39235687) * x2 + 952.52801514
    den = (11.88600922 * x2 + 413.36801147) * x2 + 952.72399902
    return (num * x / den).clamp(-1.0, 1.0)


def _sigmoid(x: Tensor, opus: bool) -> Tensor:
    """sigmoid, or with ``opus`` Opus's ``0.5 + 0.5 * tanh_approx(x / 2)``."""
    return 0.5 + 0.5 * _tanh(0.5 * x, True) if opus else torch.sigmoid(x)


class _OpusArith(nn.Module):
    """A module that can compute the way Opus's C code does (see ``set_opus_arithmetic``)."""

    opus_arith: bool = False


class _QLinear(nn.Linear):
    """Linear layer that can round its input the way Opus's int8 kernels do."""

    opus_arith: bool = False

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(_quantise(x) if self.opus_arith else x)


class _GLU(_OpusArith):
    """``x * sigmoid(W x + b)`` on (..., dim)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = _QLinear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x * _sigmoid(self.gate(x), self.opus_arith)


class _GRU(_OpusArith):
    """GRU cell without biases, gates ordered (update z, reset r, candidate h) as in Opus.

    ``s' = z * s + (1 - z) * tanh(W_h x + r * (U_h s))`` with ``z, r = sigmoid(W x + U s)``.
    """

    def __init__(self, input_dim: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.input = _QLinear(input_dim, 3 * dim, bias=False)
        self.recurrent = _QLinear(dim, 3 * dim, bias=False)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """x (B, input_dim), s (B, dim) -> new state (B, dim)."""
        n = self.dim
        xi = self.input(x)
        sr = self.recurrent(s)
        zr = _sigmoid(xi[:, : 2 * n] + sr[:, : 2 * n], self.opus_arith)
        z, r = zr[:, :n], zr[:, n:]
        h = _tanh(xi[:, 2 * n :] + r * sr[:, 2 * n :], self.opus_arith)
        return z * s + (1.0 - z) * h


@dataclass
class FARGANState:
    """Everything FARGAN carries from one call to the next (batch B).

    cond_ctx: (B, cond_conv_kernel - 1, cond_dense1_dim), the conditioning convolution's last
        inputs, oldest first.
    fwc0_ctx: (B, cond_dim + 2 * 40 + 4), the sub-frame convolution's previous input.
    gru: the three GRU states, (B, gru_dims[i]).
    excitation: (B, 256), the last output samples before de-emphasis (pre-emphasised domain).
    deemph_mem: (B,), the last output sample (the de-emphasis filter's memory).
    last_period: (B,) int64, the previous frame's pitch period (used by this frame's sub-frames).
    """

    cond_ctx: Tensor
    fwc0_ctx: Tensor
    gru: list[Tensor] = field(default_factory=list)
    excitation: Tensor = field(default_factory=lambda: torch.zeros(0))
    deemph_mem: Tensor = field(default_factory=lambda: torch.zeros(0))
    last_period: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def clone(self) -> FARGANState:
        return replace(self, cond_ctx=self.cond_ctx.clone(), fwc0_ctx=self.fwc0_ctx.clone(),
                       gru=[g.clone() for g in self.gru], excitation=self.excitation.clone(),
                       deemph_mem=self.deemph_mem.clone(), last_period=self.last_period.clone())


class FARGANCond(_OpusArith):
    """Conditioning network: features (B, T, 20) and periods (B, T) -> (B, T, 4 * cond_dim)."""

    def __init__(self, cfg: FARGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pitch_embedding = nn.Embedding(cfg.pitch_embed_size, cfg.pitch_embed_dim)
        self.dense1 = nn.Linear(NB_FEATURES + cfg.pitch_embed_dim, cfg.cond_dense1_dim)
        # Input columns ordered (oldest frame .. current frame) x channel, as Opus stores them.
        self.conv1 = _QLinear(cfg.cond_conv_kernel * cfg.cond_dense1_dim, cfg.cond_conv_dim)
        self.dense2 = _QLinear(cfg.cond_conv_dim, SUBFRAMES * cfg.cond_dim)

    def forward(self, features: Tensor, period: Tensor, ctx: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, T, 20), period (B, T) int64, ctx (B, K-1, dense1) -> (cond, new ctx)."""
        idx = (period - PITCH_EMBED_OFFSET).clamp(0, self.cfg.pitch_embed_size - 1)
        opus = self.opus_arith
        h = _tanh(self.dense1(torch.cat([features, self.pitch_embedding(idx)], dim=-1)), opus)
        h = torch.cat([ctx, h], dim=1)
        k = self.cfg.cond_conv_kernel
        windows = h.unfold(1, k, 1)  # (B, T, dense1, K)
        windows = windows.transpose(2, 3).reshape(h.shape[0], -1, k * h.shape[2])
        h2 = _tanh(self.conv1(windows), opus)
        return _tanh(self.dense2(h2), opus), h[:, h.shape[1] - (k - 1) :]


class FARGANSignal(_OpusArith):
    """Signal network: one 40-sample sub-frame per call, autoregressive on its own output."""

    def __init__(self, cfg: FARGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        g1, g2, g3 = cfg.gru_dims
        n = SUBFRAME_SIZE
        self.input_dim = cfg.cond_dim + PRED_SIZE + n
        self.gain_dense = nn.Linear(cfg.cond_dim, 1)
        self.fwc0_conv = _QLinear(2 * self.input_dim, cfg.fwc0_dim)
        self.fwc0_glu = _GLU(cfg.fwc0_dim)
        self.pitch_gate_dense = nn.Linear(cfg.fwc0_dim, 4)
        self.gru1 = _GRU(cfg.fwc0_dim + 2 * n, g1)
        self.gru2 = _GRU(g1 + 2 * n, g2)
        self.gru3 = _GRU(g2 + 2 * n, g3)
        self.gru1_glu = _GLU(g1)
        self.gru2_glu = _GLU(g2)
        self.gru3_glu = _GLU(g3)
        self.skip_dense = _QLinear(g1 + g2 + g3 + cfg.fwc0_dim + 2 * n, cfg.skip_dim)
        self.skip_glu = _GLU(cfg.skip_dim)
        self.sig_dense = _QLinear(cfg.skip_dim, n)

    def pitch_positions(self, period: Tensor) -> Tensor:
        """period (...) int64 -> (..., 44) positions in the 256-sample excitation history.

        Sample i reads ``excitation[256 - period - 2 + i]``; a position past the end wraps back
        by one period (repeating the last period), one before the start reads sample 0.
        """
        offsets = torch.arange(PRED_SIZE, device=period.device)
        pos = (PITCH_MAX_PERIOD - period - 2)[..., None] + offsets
        p = period[..., None]
        over = pos - PITCH_MAX_PERIOD
        wrapped = PITCH_MAX_PERIOD - p + torch.remainder(over, p)
        return torch.where(over >= 0, wrapped, pos).clamp_min(0)

    def packed(self) -> _PackedSignal:
        """The weights for ``run_fast``, rebuilt whenever a parameter has changed."""
        key = tuple((p.data_ptr(), p._version) for p in self.parameters())
        if getattr(self, "_packed_key", None) != key:
            self._packed = _PackedSignal(self)
            self._packed_key = key
        return self._packed

    @torch.no_grad()
    def run_fast(self, cond: Tensor, period: Tensor, state: FARGANState) -> Tensor:
        """Inference for S sub-frames: cond (B, S, cond_dim), period (B, S) -> (B, S * 40).

        The same arithmetic as S calls of ``forward`` (plain float), reordered: everything that
        depends only on the conditioning is computed for all S sub-frames at once. Updates
        ``state`` like ``forward``.
        """
        w = self.packed()
        c = self.cfg.cond_dim
        B, S, _ = cond.shape
        gain = torch.exp(cond @ w.gain_w + w.gain_b)  # (B, S, 1)
        cond_prev = torch.cat([state.fwc0_ctx[:, None, :c], cond[:, :-1]], dim=1)
        fwc0_pre = cond @ w.fwc0_cond_cur + cond_prev @ w.fwc0_cond_prev + w.fwc0_bias
        positions = self.pitch_positions(period)  # (B, S, 44)
        if S == 0:
            return cond.new_zeros(B, 0)
        matrices = [*w.fwc0_glu, *w.pitch_gate, *w.glus[0], *w.glus[1], *w.glus[2], *w.skip,
                    *w.skip_glu, *w.sig]
        exc, state.excitation, ctx_pp, state.gru = _subframe_loop()(
            gain, fwc0_pre, positions, state.fwc0_ctx[:, c:], state.excitation, state.gru,
            w.fwc0_pp, matrices, w.grus)
        state.fwc0_ctx = torch.cat([cond[:, -1], ctx_pp], dim=1)
        return exc

    def pitch_prediction(self, excitation: Tensor, period: Tensor) -> Tensor:
        """excitation (B, 256), period (B,) -> (B, 44) samples one period back."""
        return excitation.gather(1, self.pitch_positions(period))

    def forward(self, cond: Tensor, period: Tensor, state: FARGANState) -> Tensor:
        """cond (B, cond_dim), period (B,) int64 -> excitation (B, 40); updates ``state``.

        The excitation is the output before de-emphasis; ``state.excitation`` gets it appended.
        """
        n = SUBFRAME_SIZE
        opus = self.opus_arith
        gain = torch.exp(self.gain_dense(cond))  # (B, 1)
        inv_gain = 1.0 / (1e-5 + gain)
        pred = (inv_gain * self.pitch_prediction(state.excitation, period)).clamp(-1.0, 1.0)
        prev = (inv_gain * state.excitation[:, -n:]).clamp(-1.0, 1.0)
        fwc0_in = torch.cat([cond, pred, prev], dim=1)
        h = _tanh(self.fwc0_conv(torch.cat([state.fwc0_ctx, fwc0_in], dim=1)), opus)
        state.fwc0_ctx = fwc0_in
        h = self.fwc0_glu(h)
        gates = _sigmoid(self.pitch_gate_dense(h), opus)  # (B, 4)
        pred_mid = pred[:, 2 : 2 + n]
        s1 = self.gru1(torch.cat([h, gates[:, 0:1] * pred_mid, prev], dim=1), state.gru[0])
        o1 = self.gru1_glu(s1)
        s2 = self.gru2(torch.cat([o1, gates[:, 1:2] * pred_mid, prev], dim=1), state.gru[1])
        o2 = self.gru2_glu(s2)
        s3 = self.gru3(torch.cat([o2, gates[:, 2:3] * pred_mid, prev], dim=1), state.gru[2])
        o3 = self.gru3_glu(s3)
        state.gru = [s1, s2, s3]
        skip = torch.cat([o1, o2, o3, h, gates[:, 3:4] * pred_mid, prev], dim=1)
        out = self.skip_glu(_tanh(self.skip_dense(skip), opus))
        exc = _tanh(self.sig_dense(out), opus) * gain
        state.excitation = torch.cat([state.excitation[:, n:], exc], dim=1)
        return exc


def _subframe_loop_eager(gain: Tensor, fwc0_pre: Tensor, positions: Tensor, ctx_pp: Tensor,
                         excitation: Tensor, gru: list[Tensor], fwc0_pp: Tensor,
                         mats: list[Tensor], grus: list[Tensor]
                         ) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
    """The sub-frame recursion of ``FARGANSignal.run_fast`` (TorchScript-compatible).

    gain (B, S, 1); fwc0_pre (B, S, fwc0_dim), the conditioning part of the frame-wise
    convolution plus its bias; positions (B, S, 44) int64; ctx_pp (B, 84), the previous
    sub-frame's pitch prediction and past samples; excitation (B, 256); gru, the three GRU
    states; mats, (weight (in, out), bias) pairs of the fwc0 GLU, pitch gate,
    three GRU GLUs, skip dense, skip GLU and output layers; grus, the stacked GRU matrices.
    Returns (excitation samples (B, S * 40), new excitation history, new ctx_pp, new GRU
    states).
    """
    n = 40
    gru = list(gru)  # a TorchScript function gets a copy of a list anyway: return it
    inv_gain = 1.0 / (1e-5 + gain)
    out: list[Tensor] = []
    for k in range(gain.shape[1]):
        ig = inv_gain[:, k]
        pred = (ig * excitation.gather(1, positions[:, k])).clamp(-1.0, 1.0)
        prev = (ig * excitation[:, -n:]).clamp(-1.0, 1.0)
        pp = torch.cat([pred, prev], dim=1)
        h = torch.tanh(torch.cat([ctx_pp, pp], dim=1) @ fwc0_pp + fwc0_pre[:, k])
        ctx_pp = pp
        h = h * torch.sigmoid(torch.addmm(mats[1], h, mats[0]))
        gates = torch.sigmoid(torch.addmm(mats[3], h, mats[2]))
        pred_mid = pred[:, 2 : 2 + n]
        x = h
        parts: list[Tensor] = []
        for j in range(3):
            st = gru[j]
            dim = st.shape[1]
            r = torch.cat([x, gates[:, j : j + 1] * pred_mid, prev, st], dim=1) @ grus[j]
            zr = torch.sigmoid(r[:, : 2 * dim])
            cand = torch.tanh(r[:, 2 * dim : 3 * dim] + zr[:, dim:] * r[:, 3 * dim :])
            st = cand + zr[:, :dim] * (st - cand)
            gru[j] = st
            x = st * torch.sigmoid(torch.addmm(mats[5 + 2 * j], st, mats[4 + 2 * j]))
            parts.append(x)
        parts.append(h)
        parts.append(gates[:, 3:4] * pred_mid)
        parts.append(prev)
        o = torch.tanh(torch.addmm(mats[11], torch.cat(parts, dim=1), mats[10]))
        o = o * torch.sigmoid(torch.addmm(mats[13], o, mats[12]))
        exc = torch.tanh(torch.addmm(mats[15], o, mats[14])) * gain[:, k]
        excitation = torch.cat([excitation[:, n:], exc], dim=1)
        out.append(exc)
    return torch.cat(out, dim=1), excitation, ctx_pp, gru


_LoopFn = Callable[..., tuple[Tensor, Tensor, Tensor, list[Tensor]]]
_SCRIPTED: list[_LoopFn] = []


def _subframe_loop() -> _LoopFn:
    """The TorchScript-compiled sub-frame loop (2-3x faster than eager), compiled on first use;
    the eager function where TorchScript is unavailable."""
    if not _SCRIPTED:
        try:
            with warnings.catch_warnings():  # deprecated in favour of torch.compile, which
                warnings.simplefilter("ignore")  # needs a compiler at run time
                _SCRIPTED.append(torch.jit.script(_subframe_loop_eager))
        except Exception:  # TorchScript missing or unable to compile: same maths, eager
            _SCRIPTED.append(_subframe_loop_eager)
    return _SCRIPTED[0]


class _PackedSignal:
    """FARGANSignal's weights rearranged for fast inference (no autograd, plain arithmetic).

    Matrices are transposed to (in, out) and contiguous (``x @ W`` is about twice as fast as
    ``linear`` for one row); each GRU's input and recurrent matrices are stacked into one
    (in + dim, 4 * dim) matrix whose outputs are (z r sums, W_h x, U_h s); the frame-wise
    convolution is split into its conditioning columns (applied to a whole chunk at once) and
    its pitch-prediction columns (applied per sub-frame).
    """

    def __init__(self, net: FARGANSignal) -> None:
        c = net.cfg.cond_dim
        d = net.input_dim
        w = net.fwc0_conv.weight.detach()
        self.fwc0_cond_prev = w[:, :c].T.contiguous()
        self.fwc0_cond_cur = w[:, d : d + c].T.contiguous()
        self.fwc0_pp = torch.cat([w[:, c:d], w[:, d + c :]], dim=1).T.contiguous()
        self.fwc0_bias = net.fwc0_conv.bias.detach()
        self.gain_w = net.gain_dense.weight.detach().T.contiguous()
        self.gain_b = net.gain_dense.bias.detach()

        def lin(m: nn.Linear) -> tuple[Tensor, Tensor]:
            return m.weight.detach().T.contiguous(), m.bias.detach()

        self.fwc0_glu = lin(net.fwc0_glu.gate)
        self.pitch_gate = lin(net.pitch_gate_dense)
        self.glus = [lin(g.gate) for g in (net.gru1_glu, net.gru2_glu, net.gru3_glu)]
        self.skip = lin(net.skip_dense)
        self.skip_glu = lin(net.skip_glu.gate)
        self.sig = lin(net.sig_dense)
        self.grus: list[Tensor] = []
        for g in (net.gru1, net.gru2, net.gru3):
            n = g.dim
            wi, wr = g.input.weight.detach(), g.recurrent.weight.detach()
            stacked = wi.new_zeros(wi.shape[1] + n, 4 * n)
            stacked[: wi.shape[1], : 2 * n] = wi[: 2 * n].T
            stacked[wi.shape[1] :, : 2 * n] = wr[: 2 * n].T
            stacked[: wi.shape[1], 2 * n : 3 * n] = wi[2 * n :].T
            stacked[wi.shape[1] :, 3 * n :] = wr[2 * n :].T
            self.grus.append(stacked)


def deemphasis(exc: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
    """``y[i] = x[i] + 0.85 y[i - 1]`` over exc (B, N); mem (B,) is y[-1] -> (y, new mem)."""
    n = SUBFRAME_SIZE
    powers = DEEMPHASIS ** torch.arange(n + 1, dtype=exc.dtype, device=exc.device)
    i = torch.arange(n, device=exc.device)
    lower = (i[:, None] - i[None, :]).clamp_min(0)
    kernel = torch.where(i[:, None] >= i[None, :], powers[lower], torch.zeros(()))  # (n, n)
    out = []
    for k in range(0, exc.shape[1], n):
        block = exc[:, k : k + n]
        m = block.shape[1]
        y = block @ kernel[:m, :m].T + mem[:, None] * powers[1 : m + 1]
        mem = y[:, -1]
        out.append(y)
    return torch.cat(out, dim=1) if out else exc, mem


class FARGAN(nn.Module):
    """LPCNet features (B, T, 20) per 10 ms -> speech (B, T * 160) at 16 kHz, streaming."""

    def __init__(self, cfg: FARGANConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or FARGANConfig()
        self.cond = FARGANCond(self.cfg)
        self.sig = FARGANSignal(self.cfg)
        self.fast_inference = True

    def set_opus_arithmetic(self, on: bool) -> None:
        """Compute as Opus's C code does (int8-layer inputs rounded to multiples of 1/127,
        approximate tanh and sigmoid), or in plain float (the default, and for training)."""
        for m in self.modules():
            if isinstance(m, _QLinear | _OpusArith):
                m.opus_arith = on

    def initial_state(self, batch: int) -> FARGANState:
        """All-zero state for ``batch`` streams (use ``prime`` to start a stream as Opus does)."""
        p = next(self.parameters())
        cfg = self.cfg
        return FARGANState(
            cond_ctx=p.new_zeros(batch, cfg.cond_conv_kernel - 1, cfg.cond_dense1_dim),
            fwc0_ctx=p.new_zeros(batch, self.sig.input_dim),
            gru=[p.new_zeros(batch, d) for d in cfg.gru_dims],
            excitation=p.new_zeros(batch, PITCH_MAX_PERIOD),
            deemph_mem=p.new_zeros(batch),
            last_period=torch.zeros(batch, dtype=torch.long, device=p.device))

    def prime(self, features: Tensor, sig: Tensor | None = None) -> FARGANState:
        """Start streams from their first frames, without output (Opus's ``fargan_cont``).

        features: (B, 5, 20), the first ``PRIME_FRAMES`` frames; sig: (B, 320) samples that
        precede the next frame (zeros when None). The conditioning network sees all 5 frames;
        the signal network runs the 4 sub-frames of the last one (with the 4th frame's period)
        while the excitation history is forced to the pre-emphasised ``sig``.
        """
        B = features.shape[0]
        if features.shape[1:] != (PRIME_FRAMES, NB_FEATURES):
            raise ValueError(f"prime needs (B, {PRIME_FRAMES}, {NB_FEATURES}) features")
        state = self.initial_state(B)
        if sig is None:
            sig = features.new_zeros(B, 2 * FRAME_SIZE)
        period = pitch_feature_to_period(features[..., PITCH_FEATURE])
        cond, state.cond_ctx = self.cond(features, period, state.cond_ctx)
        x0 = torch.cat([sig.new_zeros(B, 1), sig[:, 1:] - DEEMPHASIS * sig[:, :-1]], dim=1)
        state.excitation[:, PITCH_MAX_PERIOD - FRAME_SIZE :] = x0[:, :FRAME_SIZE]
        last_cond = cond[:, -1].reshape(B, SUBFRAMES, self.cfg.cond_dim)
        for i in range(SUBFRAMES):
            self.sig(last_cond[:, i], period[:, -2], state)
            k = FRAME_SIZE + i * SUBFRAME_SIZE
            state.excitation = torch.cat(
                [state.excitation[:, :-SUBFRAME_SIZE], x0[:, k : k + SUBFRAME_SIZE]], dim=1)
        state.deemph_mem = sig[:, -1].clone()
        state.last_period = period[:, -2].clone()
        return state

    def features_to_sig(self, features: Tensor, state: FARGANState
                        ) -> tuple[Tensor, FARGANState]:
        """features (B, T, 20) -> (sig (B, T * 160) in [-1, 1], new state).

        Frame t's conditioning uses its own period for the embedding, but its sub-frames predict
        from the previous frame's period, as in Opus. ``state`` is not modified. Without
        autograd (and with ``fast_inference``, the default) the sub-frames run through
        ``FARGANSignal.run_fast``; with autograd, through ``FARGANSignal.forward``.
        """
        state = state.clone()
        B, T, _ = features.shape
        if T == 0:
            return features.new_zeros(B, 0), state
        period = pitch_feature_to_period(features[..., PITCH_FEATURE])
        cond, state.cond_ctx = self.cond(features, period, state.cond_ctx)
        cond = cond.reshape(B, T, SUBFRAMES, self.cfg.cond_dim)
        sub_period = torch.cat([state.last_period[:, None], period[:, :-1]], dim=1)
        if self.fast_inference and not torch.is_grad_enabled() and not self.sig.opus_arith:
            exc = self.sig.run_fast(cond.reshape(B, T * SUBFRAMES, -1),
                                    sub_period.repeat_interleave(SUBFRAMES, dim=1), state)
        else:
            parts = [self.sig(cond[:, t, i], sub_period[:, t], state)
                     for t in range(T) for i in range(SUBFRAMES)]
            exc = torch.cat(parts, dim=1) if parts else features.new_zeros(B, 0)
        if T:
            state.last_period = period[:, -1].clone()
        sig, state.deemph_mem = deemphasis(exc, state.deemph_mem)
        return sig, state

    def forward(self, features: Tensor, state: FARGANState | None = None
                ) -> tuple[Tensor, FARGANState]:
        """Offline helper: primes on the first 5 frames when ``state`` is None."""
        if state is None:
            state = self.prime(features[:, :PRIME_FRAMES])
            features = features[:, PRIME_FRAMES:]
        return self.features_to_sig(features, state)
