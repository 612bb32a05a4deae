"""LPCNet feature analysis (what Opus 1.5.2's ``dump_data -test`` computes), streaming, in PyTorch.

Input: 16 kHz float samples, full scale +-1 (multiplied by 32768, as ``dump_data`` reads int16
values as floats). Output: 20 features per 10 ms frame (160 samples): 18 Bark-band cepstral
coefficients, the pitch feature ``dnn_pitch`` (period ``256 / 2 ** (dnn_pitch + 1.5)`` samples)
and the pitch correlation ``frame_corr - 0.5``, the first 20 of the 36 floats ``dump_data -test``
writes per frame.

The processing per 160-sample frame (facts from Opus's ``dnn/dump_data.c``, ``dnn/lpcnet_enc.c``,
``dnn/freq.c``, ``dnn/pitchdnn.c``, ``dnn/nnet.c`` and ``dnn/vec_avx.h``):

- ``dump_data``'s DC-removing biquad ``(1 - 2 z^-1 + z^-2) / (1 - 1.99599 z^-1 + 0.996 z^-2)``,
  then pre-emphasis ``1 - 0.85 z^-1``.
- A 320-sample window (this frame and the previous one, a sine-of-sine^2 half window on each
  side), a DFT scaled by 1/320, 18 triangular band energies on 4-bin steps, ``log10`` (Opus's
  polynomial approximation of ``log2``), a floor (each band at least the running max - 8 and
  the previous band - 2.5), an orthonormal DCT-II; ``c0 -= 4``.
- 88 instantaneous-frequency features from the first 30 DFT bins (phase advance against the
  previous frame as a unit complex number, and a clipped log magnitude).
- 16 LPCs from the cepstrum (back to band energies, interpolated to a power spectrum, inverse
  DFT to an autocorrelation, noise floor and lag window, Levinson-Durbin with a 30 dB stop);
  the pre-emphasised signal delayed by 80 samples, whitened by them, ``+ 0.7 z^-1``: the
  excitation, normalised cross-correlation at lags 33..256 over the frame. The whitened signal
  low-passed by an elliptic biquad is kept for the correlation feature.
- PitchDNN: two tanh dense layers on the IF features; two 3x3 tanh conv2d layers (time x lag,
  two frames of memory) on the cross-correlation; a tanh dense downsampler on both; a GRU(64);
  a linear layer to 192 logits, the first 180 of which (1/60 octave bins) give the pitch as
  the softmax-weighted mean of the five bins around the arg max.
- ``frame_corr``: normalised correlation of the low-passed signal at that period, squashed by
  ``log(1 + exp(5 x)) / log(1 + exp(5))``.

Exactness: the dense/GRU layers repeat Opus's int8 arithmetic on x86 (inputs rounded to
``round(127 x + 127)`` unsigned bytes, exact integer dot products, ``* scale + subias``); tanh
and sigmoid use the same rational approximations but an exact division where Opus uses the
approximate reciprocal ``rcpps`` (relative error up to 4e-4), so ``dnn_pitch`` is close, not
bit-exact. Everything else is float32 (float64 in the recursive filters); the FFT is not Opus's
kiss FFT. See docs/fargan.md ("LPCNet analysis") for the measured agreement and speed.

Weights: ``scripts/pitchdnn_weights.py`` converts Opus's ``dnn/pitchdnn_data.c`` to
``~/.cache/focal/lpcnet/pitchdnn.safetensors``. They are part of Opus (BSD-3-Clause, Opus's
``COPYING``: "Copyright 2001-2023 Xiph.Org, Skype Limited, Octasic, Jean-Marc Valin, Timothy B.
Terriberry, CSIRO, Gregory Maxwell, Mark Borgerding, Erik de Castro Lopo, Mozilla, Amazon");
carry that notice with any copy. The code here is ours, written from the facts above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

FRAME_SIZE = 160
WINDOW_SIZE = 320
FREQ_SIZE = WINDOW_SIZE // 2 + 1
NB_BANDS = 18
LPC_ORDER = 16
NB_FEATURES = 20
PREEMPHASIS = 0.85
TRAINING_OFFSET = 80
PITCH_MIN_PERIOD = 32
PITCH_MAX_PERIOD = 256
NB_XCORR = PITCH_MAX_PERIOD - PITCH_MIN_PERIOD  # 224 lags: 256 down to 33
IF_BINS = 30
NB_IF = 3 * IF_BINS - 2  # 88
EBAND_5MS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 34, 40)
COMPENSATION = (0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.666667, 0.5, 0.5, 0.5, 0.333333, 0.25,
                0.25, 0.2, 0.166667, 0.173913)
# dump_data's DC-removal biquad and lpcnet_enc's low-pass (ellip(2, 2, 20, 1200/8000)):
# H(z) = (1 + b0 z^-1 + b1 z^-2) / (1 + a0 z^-1 + a1 z^-2).
HP_B, HP_A = (-2.0, 1.0), (-1.99599, 0.99600)
LP_B, LP_A = (-0.84946, 1.0), (-1.54220, 0.70781)

DEFAULT_WEIGHTS = Path.home() / ".cache" / "focal" / "lpcnet" / "pitchdnn.safetensors"


def _f32(x: float) -> float:
    """The float32 value nearest ``x`` (Opus's C constants are float literals)."""
    return float(np.float32(x))


# ---------------------------------------------------------------------------------------------
# Opus's approximations
# ---------------------------------------------------------------------------------------------

_L2 = [_f32(v) for v in (-0.41445418, 0.95909232, -0.33951290, 0.16541097, 0.3010299957)]
_TANH = [_f32(v) for v in (0.60863042, 96.39235687, 952.52801514, 11.88600922, 413.36801147,
                           952.72399902)]
_SIGM = [_f32(v) for v in (0.00950985, 6.02452230, 238.13200378, 0.74287558, 103.34200287,
                           952.72399902)]


def log2_approx(x: Tensor) -> Tensor:
    """Opus's ``celt_log2`` (FLOAT_APPROX build): exponent + cubic in the mantissa (float32)."""
    m, e = torch.frexp(x)  # x = m * 2**e, m in [0.5, 1)
    frac = 2.0 * m - 1.5
    frac = _L2[0] + frac * (_L2[1] + frac * (_L2[2] + frac * _L2[3]))
    return e.to(x.dtype) + frac  # 1 + (e - 1) + frac


def log10_approx(x: Tensor) -> Tensor:
    return _L2[4] * log2_approx(x)


def _rational(x: Tensor, c: list[float]) -> Tensor:
    """x (c0 x^4 + c1 x^2 + c2) / (c3 x^4 + c4 x^2 + c5), float32, as Opus's Pade forms."""
    x2 = x * x
    num = torch.addcmul(_const(c[1], x), x2, _const(c[0], x))
    num = torch.addcmul(_const(c[2], x), num, x2).mul_(x)
    den = torch.addcmul(_const(c[4], x), x2, _const(c[3], x))
    den = torch.addcmul(_const(c[5], x), den, x2)
    return num.div_(den)


_CONSTS: dict[tuple[float, torch.dtype, torch.device], Tensor] = {}


def _const(v: float, like: Tensor) -> Tensor:
    """A cached 0-d tensor (addcmul takes tensors)."""
    key = (v, like.dtype, like.device)
    c = _CONSTS.get(key)
    if c is None:
        c = _CONSTS[key] = torch.tensor(v, dtype=like.dtype, device=like.device)
    return c


def tanh_approx(x: Tensor) -> Tensor:
    """Opus's rational tanh (``tanh8_approx``), with an exact division."""
    return _rational(x, _TANH).clamp_(-1.0, 1.0)


def sigmoid_approx(x: Tensor) -> Tensor:
    """Opus's rational sigmoid (``sigmoid8_approx``), with an exact division."""
    return _rational(x, _SIGM).add_(0.5).clamp_(0.0, 1.0)


def quantise_u8(x: Tensor) -> Tensor:
    """Opus's AVX2 input rounding for int8 matrices: ``round_even(fma(x, 127, 127))``, 0..255."""
    return (x.double() * 127.0 + 127.0).float().round().clamp(0.0, 255.0)


# ---------------------------------------------------------------------------------------------
# Fixed tables (checked against Opus's lpcnet_tables.c in the tests)
# ---------------------------------------------------------------------------------------------

def half_window() -> np.ndarray:
    """(160,) rising half of the analysis window: sin(pi/2 sin^2(pi/2 (i + 0.5) / 160))."""
    i = np.arange(WINDOW_SIZE - FRAME_SIZE)
    return np.sin(0.5 * np.pi * np.sin(0.5 * np.pi * (i + 0.5) / (WINDOW_SIZE - FRAME_SIZE)) ** 2)


def dct_table() -> np.ndarray:
    """(18, 18) ``T[j, i] = cos((j + 0.5) i pi / 18)``, column 0 times sqrt(1/2)."""
    j = np.arange(NB_BANDS)[:, None]
    i = np.arange(NB_BANDS)[None, :]
    t = np.cos((j + 0.5) * i * np.pi / NB_BANDS)
    t[:, 0] *= math.sqrt(0.5)
    return t


def band_matrix() -> np.ndarray:
    """(161, 18) triangular band weights: band energy = |X|^2 @ M (edge bands doubled)."""
    m = np.zeros((FREQ_SIZE, NB_BANDS))
    for i in range(NB_BANDS - 1):
        lo, size = 4 * EBAND_5MS[i], 4 * (EBAND_5MS[i + 1] - EBAND_5MS[i])
        for j in range(size):
            frac = j / size
            m[lo + j, i] += 1.0 - frac
            m[lo + j, i + 1] += frac
    m[:, 0] *= 2.0
    m[:, NB_BANDS - 1] *= 2.0
    return m


def autocorr_matrix() -> np.ndarray:
    """(18, 17): band energies -> autocorrelation lags 0..16 (band gains interpolated to a real
    spectrum on bins 0..159, bin 160 zero, then an unscaled inverse DFT of length 320)."""
    interp = np.zeros((NB_BANDS, FREQ_SIZE))
    for i in range(NB_BANDS - 1):
        lo, size = 4 * EBAND_5MS[i], 4 * (EBAND_5MS[i + 1] - EBAND_5MS[i])
        for j in range(size):
            frac = j / size
            interp[i, lo + j] += 1.0 - frac
            interp[i + 1, lo + j] += frac
    k = np.arange(FREQ_SIZE)[:, None]
    lag = np.arange(LPC_ORDER + 1)[None, :]
    w = np.where((k == 0) | (k == FREQ_SIZE - 1), 1.0, 2.0)
    cos = w * np.cos(2 * np.pi * k * lag / WINDOW_SIZE)
    cos[FREQ_SIZE - 1] = 0.0
    return interp @ cos


def biquad_blocks(b: tuple[float, float], a: tuple[float, float], n: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Block form of Opus's biquad over ``n`` samples, float64.

    State s = (mem0, mem1); per sample y = x + mem0, mem0' = mem1 + b0 x - a0 y,
    mem1' = b1 x - a1 y. For a block x (n,) and entry state s: ``y = x @ H + s @ O`` and the
    exit state is ``x @ G + s @ P``. Returns H (n, n), O (2, n), G (n, 2), P (2, 2).
    """
    am = np.array([[-a[0], 1.0], [-a[1], 0.0]])  # s' = am @ s + bv x
    bv = np.array([b[0] - a[0], b[1] - a[1]])
    c = np.array([1.0, 0.0])
    powers = [np.eye(2)]
    for _ in range(n):
        powers.append(am @ powers[-1])
    h = np.zeros(n)
    h[0] = 1.0
    for j in range(1, n):
        h[j] = c @ powers[j - 1] @ bv
    idx = np.arange(n)
    lag = idx[None, :] - idx[:, None]  # H[k, i] = h[i - k]
    hm = np.where(lag >= 0, h[np.clip(lag, 0, n - 1)], 0.0)
    om = np.stack([c @ powers[i] for i in range(n)], axis=1)  # (2, n)
    gm = np.stack([powers[n - 1 - k] @ bv for k in range(n)], axis=0)  # (n, 2)
    pm = powers[n].T
    return hm, om, gm, pm


def run_biquad(x: Tensor, state: Tensor, mats: tuple[Tensor, Tensor, Tensor, Tensor]
               ) -> tuple[Tensor, Tensor]:
    """x (B, T, n) float64 blocks, state (B, 2) float64 -> (y (B, T, n), exit state (B, 2))."""
    hm, om, gm, pm = mats
    y = x @ hm
    drive = (x @ gm).cpu().numpy()  # (B, T, 2)
    p = pm.cpu().numpy()
    entry = np.empty_like(drive)
    s = state.cpu().numpy()
    for t in range(x.shape[1]):  # the 2-value state from block to block
        entry[:, t] = s
        s = s @ p + drive[:, t]
    y = y + torch.from_numpy(entry).to(x.device) @ om
    return y, torch.from_numpy(s).to(x.device)


_N = LPC_ORDER


def levinson(ac: Tensor) -> Tensor:
    """(..., 17) autocorrelation -> (..., 16) LPCs ``a`` (prediction x[n] ~ -sum a_j x[n-j-1]),
    Opus's ``lpcn_lpc`` in float32: the recursion stops after the first order whose error is
    30 dB below ac[0]. Vectorised over frames in numpy (16 small sequential steps)."""
    a = ac.detach().cpu().numpy().reshape(-1, _N + 1).astype(np.float32)
    m = a.shape[0]
    hist = np.zeros((_N, m, _N), dtype=np.float32)  # coefficients after each order
    errs = np.empty((_N, m), dtype=np.float32)
    lpc = hist[0]
    error = a[:, 0]
    for i in range(_N):
        rr = np.einsum("mj,mj->m", lpc[:, :i], a[:, i:0:-1]) + a[:, i + 1]
        r = -rr / error
        new = hist[i]
        if i:
            new[:, :i] = lpc[:, :i] + r[:, None] * lpc[:, i - 1::-1]
        new[:, i] = r
        error = error - r * r * error
        errs[i] = error
        lpc = new
    stopped = errs < np.float32(0.001) * a[:, 0]  # (16, M)
    order = np.where(stopped.any(0), stopped.argmax(0), _N - 1)
    lpc = hist[order, np.arange(m)]
    return torch.from_numpy(lpc.reshape(*ac.shape[:-1], _N)).to(ac.device)


_DECAY = 2.5 * (np.arange(NB_BANDS)[:, None] - np.arange(NB_BANDS)[None, :])  # [i, k] = 2.5 (i-k)


def spectral_floor(ly: Tensor) -> Tensor:
    """(..., 18) log10 band energies -> Opus's floored values: band i is at least band i-1
    minus 2.5 and at least the max of the bands below minus 8 (both starting from -2).

    Closed form of the recursion: ``v_i = max(max_k<=i (ly_k - 2.5 (i - k)),
    max(-2, ly_0..ly_i-1) - 8, -2 - 2.5 (i + 1))``.
    """
    decay = torch.as_tensor(_DECAY, dtype=ly.dtype, device=ly.device)
    decayed = (ly[..., None, :] - decay).masked_fill(decay < 0, float("-inf")).amax(-1)
    prev_max = torch.cat([ly.new_full((*ly.shape[:-1], 1), -2.0),
                          ly[..., :-1].clamp(min=-2.0).cummax(-1).values], dim=-1)
    init = -2.0 - 2.5 * torch.arange(1, NB_BANDS + 1, dtype=ly.dtype, device=ly.device)
    return torch.maximum(torch.maximum(decayed, prev_max - 8.0), init)


# ---------------------------------------------------------------------------------------------
# PitchDNN
# ---------------------------------------------------------------------------------------------

class Int8Linear(nn.Module):
    """Opus's int8 dense layer: ``(round(127 x + 127) @ W8.T) * scale + subias``.

    ``weight_int8`` (out, in) holds integers in [-127, 127]; with ``opus_arith`` False the layer
    is the float equivalent ``(127 scale W8) x + bias``.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight_int8 = nn.Parameter(torch.zeros(n_out, n_in), requires_grad=False)
        self.scale = nn.Parameter(torch.full((n_out,), 1.0 / 127.0 / 127.0), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(n_out), requires_grad=False)
        self.subias = nn.Parameter(torch.zeros(n_out), requires_grad=False)
        self.opus_arith = True

    def forward(self, x: Tensor) -> Tensor:
        if self.opus_arith:
            return (quantise_u8(x) @ self.weight_int8.T) * self.scale + self.subias
        return x @ (127.0 * self.scale[:, None] * self.weight_int8).T + self.bias

    def set_subias(self) -> None:
        """Recompute ``subias`` from weights, scale and bias (for random or trained weights)."""
        with torch.no_grad():
            self.subias.copy_(self.bias - 127.0 * self.scale * self.weight_int8.sum(1))


class PitchDNN(nn.Module):
    """Opus 1.5.2's pitch estimator on per-frame IF (88) and cross-correlation (224) features.

    Frame-parallel except the GRU. State: ``conv1`` (B, 2, 224) and ``conv2`` (B, 4, 2, 224),
    the last two frames' inputs of the two conv2d layers; ``gru`` (B, 64).
    """

    def __init__(self) -> None:
        super().__init__()
        self.if_dense1 = Int8Linear(NB_IF, 64)
        self.if_dense2 = Int8Linear(64, 64)
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 1, 3)
        self.downsampler = Int8Linear(NB_XCORR + 64, 64)
        self.gru_input = Int8Linear(64, 192)
        self.gru_recurrent = Int8Linear(64, 192)
        self.final = Int8Linear(64, 192)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, if_feats: Tensor, xcorr: Tensor, conv1_mem: Tensor, conv2_mem: Tensor,
                gru: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """if_feats (B, T, 88), xcorr (B, T, 224) ->
        (dnn_pitch (B, T), conv1_mem, conv2_mem, gru) (the new state)."""
        t = if_feats.shape[1]
        h_if = tanh_approx(self.if_dense2(tanh_approx(self.if_dense1(if_feats))))
        x1 = F.pad(torch.cat([conv1_mem, xcorr], dim=1), (1, 1))[:, None]  # (B, 1, T+2, 226)
        c1 = tanh_approx(conv3x3(x1, self.conv1))  # (B, 4, T, 224)
        x2 = F.pad(torch.cat([conv2_mem, c1], dim=2), (1, 1))  # (B, 4, T+2, 226)
        c2 = tanh_approx(conv3x3(x2, self.conv2))[:, 0]  # (B, T, 224)
        new_conv1 = torch.cat([conv1_mem, xcorr], dim=1)[:, t:]
        new_conv2 = torch.cat([conv2_mem, c1], dim=2)[:, :, t:]
        down = tanh_approx(self.downsampler(torch.cat([c2, h_if], dim=-1)))
        gi = self.gru_input(down)  # (B, T, 192)
        hs = self.run_gru(gi, gru)
        h = hs[:, -1] if t else gru
        logits = self.final(hs)[..., :180]  # (B, T, 180)
        return logits_to_pitch(logits), new_conv1, new_conv2, h

    def run_gru(self, gi: Tensor, h0: Tensor) -> Tensor:
        """GRU over frames: gi (B, T, 192) input projections (z, r, h order), h0 (B, 64) ->
        states (B, T, 64). ``h' = z h + (1 - z) tanh(gi_h + r (U_h q(h)))``, ``z, r =
        sigmoid(gi_zr + U_zr q(h))``, with ``U q(h)`` Opus's int8 product (state rounded to
        uint8 in float32; the fused rounding Opus uses differs far more rarely than its
        approximate reciprocal does). Sequential, so it runs in numpy (a few times less
        overhead per small operation than torch) and returns to torch."""
        rec_w = self.gru_recurrent
        n = h0.shape[-1]
        if rec_w.opus_arith:
            w_t = rec_w.weight_int8.detach().cpu().numpy().T.copy()
            scale = rec_w.scale.detach().cpu().numpy()
            bias = rec_w.subias.detach().cpu().numpy()
        else:
            w_t = (127.0 * rec_w.scale[:, None] * rec_w.weight_int8).detach().cpu().numpy().T
            w_t = w_t.copy()
            scale = None
            bias = rec_w.bias.detach().cpu().numpy()
        g = gi.detach().cpu().numpy()
        h = h0.detach().cpu().numpy().copy()
        out = np.empty((g.shape[0], g.shape[1], n), dtype=np.float32)
        c_t, c_s = np.array(_TANH, np.float32), np.array(_SIGM, np.float32)
        for k in range(g.shape[1]):
            if scale is not None:
                rec = np.rint(h * np.float32(127.0) + np.float32(127.0)) @ w_t
                rec *= scale
                rec += bias
            else:
                rec = h @ w_t + bias
            zr = rec[:, : 2 * n] + g[:, k, : 2 * n]
            zr = np.clip(_rational_np(zr, c_s) + np.float32(0.5), 0.0, 1.0)
            z = zr[:, :n]
            x = rec[:, 2 * n:] * zr[:, n:] + g[:, k, 2 * n:]
            cand = np.clip(_rational_np(x, c_t), -1.0, 1.0)
            h = z * h + (np.float32(1.0) - z) * cand
            out[:, k] = h
        return torch.from_numpy(out).to(gi.device)


def _rational_np(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """numpy float32 form of ``_rational``."""
    x2 = x * x
    num = ((c[0] * x2 + c[1]) * x2 + c[2]) * x
    den = (c[3] * x2 + c[4]) * x2 + c[5]
    return num / den


def conv3x3(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """Valid 3x3 convolution (B, C, T + 2, H + 2) -> (B, O, T, H): the nine products of each
    channel summed, then the channels. Unlike torch's conv2d kernels (whose algorithm, and
    rounding, depend on the size), a frame's result does not depend on how many frames are
    computed at once."""
    w = conv.weight
    t, h = x.shape[2] - 2, x.shape[3] - 2
    xs = x[:, None]  # (B, 1, C, T + 2, H + 2)
    ws = w[None, :, :, :, :, None, None]  # (1, O, C, 3, 3, 1, 1)
    out = xs[..., 0:t, 0:h] * ws[:, :, :, 0, 0]
    for dt in range(3):
        for dh in range(3):
            if dt or dh:
                out.addcmul_(xs[..., dt:dt + t, dh:dh + h], ws[:, :, :, dt, dh])
    assert conv.bias is not None
    return out.sum(2) + conv.bias[None, :, None, None]


def logits_to_pitch(logits: Tensor) -> Tensor:
    """(..., 180) 1/60-octave logits -> pitch feature: mean bin of the softmax over the arg max
    +-2 (Opus keeps bin 0 if no logit exceeds -1), / 60 - 1.5."""
    maxval, pos = logits.max(dim=-1)
    pos = torch.where(maxval > -1.0, pos, torch.zeros_like(pos))
    offs = torch.arange(-2, 3, device=logits.device)
    idx = pos[..., None] + offs
    valid = (idx >= 0) & (idx <= 179)
    p = torch.exp(logits.gather(-1, idx.clamp(0, 179)).double()).float() * valid
    mean = (p * idx.float()).sum(-1) / p.sum(-1)
    return mean / 60.0 - 1.5


# ---------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------

@dataclass
class LPCNetAnalysisState:
    """What the analysis carries between calls (batch B; all float32 unless said).

    hp: (B, 2) float64, the DC-removal biquad's memories. pre_prev: (B,), the last high-passed
    sample (pre-emphasis memory). sig: (B, 160), the last pre-emphasised samples (window
    overlap; the whitening filter reads them 80 samples late). prev_if: (B, 30) complex64, the
    previous frame's first DFT bins. lp_prev: (B,), the last whitened sample. lp: (B, 2) float64,
    the low-pass biquad's memories. exc: (B, 256), the last excitation samples. lpf: (B, 256),
    the last low-passed whitened samples. conv1, conv2, gru: PitchDNN's state.
    """

    hp: Tensor
    pre_prev: Tensor
    sig: Tensor
    prev_if: Tensor
    lp_prev: Tensor
    lp: Tensor
    exc: Tensor
    lpf: Tensor
    conv1: Tensor
    conv2: Tensor
    gru: Tensor

    def clone(self) -> LPCNetAnalysisState:
        return replace(self, **{f.name: getattr(self, f.name).clone() for f in fields(self)})


class LPCNetAnalysis(nn.Module):
    """16 kHz samples -> LPCNet features, equal (up to float rounding) to ``dump_data -test``.

    ``sig_to_feats(sig (B, N), state) -> (feats (B, N // 160, 20), state)``. Samples past the
    last whole frame are dropped, not buffered: stream in multiples of 160. Consecutive chunks
    give bit-for-bit the features of one call, whatever the chunk sizes, and each batch row
    those of its own call. Each call has a fixed cost of a few ms (many small operations), so
    hand it 100 ms or more at a time where latency allows. ``highpass=False`` skips dump_data's
    DC-removal biquad (part of dump_data, not of Opus's encoder entry points). Torch's default
    thread count applies; ``torch.set_num_threads(1)`` for one thread.
    """

    window: Tensor
    bands: Tensor
    dct: Tensor
    idct: Tensor
    autocorr: Tensor
    compensation: Tensor

    def __init__(self, highpass: bool = True) -> None:
        super().__init__()
        self.highpass = highpass
        self.pitchdnn = PitchDNN()
        hw = half_window()
        window = np.concatenate([hw, hw[::-1]]).astype(np.float32)
        self.register_buffer("window", torch.from_numpy(window), persistent=False)
        self.register_buffer("bands", torch.from_numpy(band_matrix()),
                             persistent=False)
        dct = dct_table() * math.sqrt(2.0 / NB_BANDS)
        self.register_buffer("dct", torch.from_numpy(dct), persistent=False)
        self.register_buffer("idct", torch.from_numpy(dct.T.copy()), persistent=False)  # f64
        self.register_buffer("autocorr", torch.from_numpy(autocorr_matrix()), persistent=False)
        self.register_buffer("compensation", torch.tensor(
            [_f32(c) for c in COMPENSATION], dtype=torch.float64), persistent=False)
        for name, (b, a) in (("hp", (HP_B, HP_A)), ("lpf", (LP_B, LP_A))):
            b32, a32 = (_f32(b[0]), _f32(b[1])), (_f32(a[0]), _f32(a[1]))
            for part, m in zip("HOGP", biquad_blocks(b32, a32, FRAME_SIZE), strict=True):
                self.register_buffer(f"{name}_{part}", torch.from_numpy(m), persistent=False)

    def load_opus_weights(self, path: Path | str = DEFAULT_WEIGHTS) -> LPCNetAnalysis:
        """Load ``scripts/pitchdnn_weights.py``'s safetensors into PitchDNN."""
        from safetensors.torch import load_file

        self.pitchdnn.load_state_dict(load_file(str(path)))
        return self

    def set_opus_arithmetic(self, on: bool) -> None:
        """Opus's int8 arithmetic in PitchDNN's dense layers (default), or their float form."""
        for m in self.pitchdnn.modules():
            if isinstance(m, Int8Linear):
                m.opus_arith = on

    def initial_state(self, batch: int = 1) -> LPCNetAnalysisState:
        z = self.window.new_zeros
        return LPCNetAnalysisState(
            hp=z(batch, 2, dtype=torch.float64), pre_prev=z(batch), sig=z(batch, FRAME_SIZE),
            prev_if=z(batch, IF_BINS, dtype=torch.complex64), lp_prev=z(batch),
            lp=z(batch, 2, dtype=torch.float64), exc=z(batch, PITCH_MAX_PERIOD),
            lpf=z(batch, PITCH_MAX_PERIOD), conv1=z(batch, 2, NB_XCORR),
            conv2=z(batch, 4, 2, NB_XCORR), gru=z(batch, 64))

    def _mats(self, name: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        h, o, g, p = (self.get_buffer(f"{name}_{part}") for part in "HOGP")
        return h, o, g, p

    @torch.no_grad()
    def sig_to_feats(self, sig: Tensor, state: LPCNetAnalysisState | None = None
                     ) -> tuple[Tensor, LPCNetAnalysisState]:
        """sig (B, N) float in [-1, 1] at 16 kHz -> (feats (B, N // 160, 20), new state)."""
        if sig.dim() != 2:
            raise ValueError(f"sig must be (B, N), got {tuple(sig.shape)}")
        if state is None:
            state = self.initial_state(sig.shape[0])
        bsz = sig.shape[0]
        if state.gru.shape[0] != bsz:
            raise ValueError(f"state is for batch {state.gru.shape[0]}, sig has {bsz} rows")
        t = sig.shape[1] // FRAME_SIZE
        if t == 0:
            return sig.new_zeros(bsz, 0, NB_FEATURES), state
        x = sig[:, : t * FRAME_SIZE].double() * 32768.0
        x = x.float().double()  # dump_data's float samples
        new = {}
        # DC removal (dump_data) and pre-emphasis.
        blocks = x.view(bsz, t, FRAME_SIZE)
        if self.highpass:
            blocks, new["hp"] = run_biquad(blocks, state.hp, self._mats("hp"))
        else:
            new["hp"] = state.hp
        xh = blocks.reshape(bsz, -1).float()
        prev = torch.cat([state.pre_prev[:, None], xh[:, :-1]], dim=1)
        s = xh + prev * _f32(-PREEMPHASIS)
        new["pre_prev"] = xh[:, -1] if t else state.pre_prev
        s_ext = torch.cat([state.sig, s], dim=1)  # (B, 160 + N)
        new["sig"] = s_ext[:, -FRAME_SIZE:]

        # Spectrum, band energies, cepstrum.
        frames = s_ext.unfold(1, WINDOW_SIZE, FRAME_SIZE)  # (B, T, 320)
        spec = torch.fft.rfft(frames * self.window) * (1.0 / WINDOW_SIZE)  # (B, T, 161)
        power = spec.real.square() + spec.imag.square()
        # Small products in float64 (then float32): float32 kernels round differently for
        # different numbers of frames, and streaming must equal offline.
        energy = (power.double() @ self.bands).float()
        ly = log10_approx(energy + _f32(1e-2))
        floor_ly = spectral_floor(ly)
        ceps = (floor_ly.double() @ self.dct).float()
        ceps = torch.cat([ceps[..., :1] - 4.0, ceps[..., 1:]], dim=-1)

        # Instantaneous-frequency features.
        xb = spec[..., :IF_BINS]
        prev_x = torch.cat([state.prev_if[:, None], xb[:, :-1]], dim=1)
        new["prev_if"] = xb[:, -1] if t else state.prev_if
        prod = xb[..., 1:] * prev_x[..., 1:].conj()
        pr, pi = prod.real, prod.imag
        norm = (1.0 / torch.sqrt(1e-15 + (pr * pr + pi * pi).double())).float()
        mag = log10_approx(_f32(1e-15) + power[..., :IF_BINS])
        mag = ((1.0 / 64.0) * (10.0 * mag - 6.0)).clamp(-1.0, 1.0)
        mag0 = log10_approx(_f32(1e-15) + spec[..., 0].real.square())
        mag0 = ((1.0 / 64.0) * (10.0 * mag0 - 6.0)).clamp(-1.0, 1.0)
        if_feats = torch.cat([mag0[..., None], torch.stack(
            [pr * norm, pi * norm, mag[..., 1:]], dim=-1).flatten(-2)], dim=-1)  # (B, T, 88)

        # LPC from the cepstrum (float64 up to the autocorrelation, then float32 as Opus).
        c_in = torch.cat([ceps[..., :1] + 4.0, ceps[..., 1:]], dim=-1)
        log_e = (c_in.double() @ self.idct).float()
        band_e = (torch.pow(10.0, log_e.double()) * self.compensation).float()
        ac = (band_e.double() @ self.autocorr).float()
        ac0 = ac[..., 0] + (ac[..., 0] * _f32(1e-4) + (320 // 12) / 38.0)
        lag = torch.arange(1, LPC_ORDER + 1, dtype=torch.float64, device=ac.device)
        ac = torch.cat([ac0[..., None], ac[..., 1:] * (1.0 - 6e-5 * lag * lag).float()], dim=-1)
        lpc = levinson(ac)  # (B, T, 16)

        # Whitening of the delayed signal, excitation, low-pass.
        start = FRAME_SIZE - TRAINING_OFFSET - LPC_ORDER  # 64
        seg = s_ext[:, start: start + t * FRAME_SIZE + LPC_ORDER]
        win = seg.unfold(1, FRAME_SIZE + LPC_ORDER, FRAME_SIZE)  # (B, T, 176)
        taps = win.unfold(2, LPC_ORDER + 1, 1)  # (B, T, 160, 17): oldest .. current sample
        coef = torch.cat([lpc.flip(-1), lpc.new_ones(bsz, t, 1)], dim=-1)  # (B, T, 17)
        lp = (taps.double() @ coef.double()[..., None])[..., 0].reshape(bsz, -1).float()
        lp_prev = torch.cat([state.lp_prev[:, None], lp[:, :-1]], dim=1)
        exc = lp + _f32(0.7) * lp_prev
        new["lp_prev"] = lp[:, -1] if t else state.lp_prev
        lpf, new["lp"] = run_biquad(lp.double().view(bsz, t, FRAME_SIZE), state.lp,
                                    self._mats("lpf"))
        lpf = lpf.reshape(bsz, -1).float()

        # Normalised cross-correlation of the excitation, lags 256 .. 33.
        exc_ext = torch.cat([state.exc, exc], dim=1)  # (B, 256 + N)
        new["exc"] = exc_ext[:, -PITCH_MAX_PERIOD:]
        eseg = exc_ext.unfold(1, PITCH_MAX_PERIOD + FRAME_SIZE, FRAME_SIZE)  # (B, T, 416)
        cur = eseg[..., PITCH_MAX_PERIOD:]  # (B, T, 160)
        past = eseg[..., : NB_XCORR + FRAME_SIZE - 1].unfold(2, FRAME_SIZE, 1)  # (B,T,224,160)
        xcorr = (past @ cur[..., None])[..., 0]
        e2 = eseg.double().square()
        csum = F.pad(e2.cumsum(-1), (1, 0))
        ener1 = csum[..., FRAME_SIZE: FRAME_SIZE + NB_XCORR] - csum[..., :NB_XCORR]
        ener0 = (cur * cur).sum(-1).double()
        xcorr_feats = 2.0 * xcorr / (1.0 + ener0[..., None] + ener1).float()

        # PitchDNN.
        dnn_pitch, new["conv1"], new["conv2"], new["gru"] = self.pitchdnn(
            if_feats, xcorr_feats, state.conv1, state.conv2, state.gru)

        # Pitch correlation of the low-passed whitened signal.
        period = torch.floor(0.5 + 256.0 / torch.pow(
            2.0, (1.0 / 60.0) * ((dnn_pitch.double() + 1.5) * 60.0))).long()  # (B, T)
        lpf_ext = torch.cat([state.lpf, lpf], dim=1)
        new["lpf"] = lpf_ext[:, -PITCH_MAX_PERIOD:]
        base = PITCH_MAX_PERIOD + FRAME_SIZE * torch.arange(t, device=sig.device)
        n_idx = torch.arange(FRAME_SIZE, device=sig.device)
        cur_idx = (base[:, None] + n_idx).reshape(1, -1).expand(bsz, -1)
        lag_idx = ((base[None, :] - period)[..., None] + n_idx).reshape(bsz, -1)
        xc = lpf_ext.gather(1, cur_idx).view(bsz, t, FRAME_SIZE)
        yc = lpf_ext.gather(1, lag_idx).view(bsz, t, FRAME_SIZE)
        xx = (xc * xc).sum(-1).double()
        yy = (yc * yc).sum(-1).double()
        xy = (xc * yc).sum(-1).double()
        corr = (xy / torch.sqrt(1.0 + xx * yy)).float().double()
        corr = torch.log(1.0 + torch.exp(5.0 * corr)) / math.log(1.0 + math.exp(5.0))
        feats = torch.cat([ceps, dnn_pitch[..., None], (corr.float() - 0.5)[..., None]], dim=-1)
        return feats, LPCNetAnalysisState(**new)


def pitch_to_period(dnn_pitch: Tensor) -> Tensor:
    """Pitch feature -> period in samples, ``round(256 / 2 ** (p + 1.5))`` (as Opus does)."""
    return torch.floor(0.5 + 256.0 / torch.pow(2.0, dnn_pitch.double() + 1.5)).long()
