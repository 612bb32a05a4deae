"""Probe (c) of issues 13 and 14: a learned bitrate ladder over FARGAN's features.

Probe (a) put FARGAN behind v6's tokens and lost words: those tokens were trained for v6's
decoder and carry little of the fine envelope or the pitch. This probe learns the tokens for
FARGAN instead. A causal encoder reads the 2 x 20 LPCNet features of each 20 ms token (what
Opus's ``dump_data`` extracts; a product encoder has to compute them from audio itself), a
grouped binary spherical quantizer (``focalcli.model.bsq``, 4 nested groups of 12 bits) makes
the tokens, and a causal decoder regresses the features back, which FARGAN turns into speech.
Every step trains every rung (1, 2 and 4 groups: 0.6, 1.2 and 2.4 kbit/s) on the same batch,
so one set of weights serves the ladder. The loss is the feature regression of probe (a), so
training needs no vocoder in the loop: about 0.1 CPU s per step.

    python -m focalcli.train.vocoder_probe cache          # features: ~/.cache/focal/lpcnet-feats
    python -m focalcli.train.feature_ladder_probe train --run NAME [--steps N] [--delay-tokens D]
        [--pitch-bits P [--corr-bits C]] [--hybrid [--init MODEL]] [--speeds S,S] [--copies C,C]
        [--lr LR]
    python -m focalcli.train.feature_ladder_probe decode --run NAME --rung G --out DIR

With ``--hybrid`` group 0 is focal-small v6's cached token (fixed) and only rungs 2 and 4 are
trained (``HybridLadderCodec``; the product's ``focalcli.model.hybrid``); ``--init MODEL``
starts such a run from a released hybrid's trained blocks (a fine-tune on its own schedule).
``train`` is resumable (``~/.cache/focal/runs/NAME/last.pt``). ``decode`` writes one 16 kHz WAV
per dev file for ``eval_codec.py --dec-dir``. Exit codes: 0 done, 1 bad input or a missing
prerequisite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from focalcli.model.bsq import BinarySphericalQuantizer
from focalcli.model.feature_codec import (
    CausalBlock,
    feats_to_scalar_codes,
    scalar_codes_to_values,
    scalar_fields,
    scalar_inputs_and_base,
    with_scalar_codes,
)
from focalcli.train.vocoder_probe import (
    FRAMES_PER_TOKEN,
    NB_FEATURES,
    RUNS,
    ProbeError,
    feats_to_wav,
    load_cache,
    load_fargan,
    load_split,
    manifest,
)

TOKEN_FEATURES = FRAMES_PER_TOKEN * NB_FEATURES  # 40 values per 20 ms token
RUNG_GROUPS = (1, 2, 4)


class FeatureLadderCodec(nn.Module):
    """FARGAN features per token (B, T, 40) <-> grouped tokens (B, T, G), causal.

    ``encode`` gives the unquantised, group-normalised latents (B, T, G * 12) or, with
    ``quantise``, the codes; ``decode`` takes codes of the first g groups (B, T, g * 12) and
    returns standardised features (B, T, 40), output token t describing input token
    t - ``delay_tokens``. ``mean`` / ``std`` buffers map standardised features back.
    """

    def __init__(self, dim: int = 256, gru_dim: int = 384, bits: int = 12, groups: int = 4,
                 delay_tokens: int = 0) -> None:
        super().__init__()
        self.delay_tokens = delay_tokens
        self.bsq = BinarySphericalQuantizer(2**bits, groups)
        self.encoder = CausalBlock(TOKEN_FEATURES, self.bsq.latent_dim, dim, dim)
        self.decoder = CausalBlock(self.bsq.latent_dim, TOKEN_FEATURES, dim, gru_dim)
        self.register_buffer("mean", torch.zeros(TOKEN_FEATURES))
        self.register_buffer("std", torch.ones(TOKEN_FEATURES))
        self.mean: Tensor
        self.std: Tensor

    def encode(self, feats: Tensor) -> Tensor:
        """Raw features (B, T, 40) -> group-normalised latents (B, T, G * D)."""
        lats, _ = self.encoder((feats - self.mean) / self.std)
        return self.bsq.normalize(lats)

    def quantise(self, lats: Tensor) -> Tensor:
        """Latents -> codes, with a straight-through gradient."""
        codes = self.bsq.lats_to_codes(lats)
        return lats + (codes - lats).detach()

    def decode(self, codes: Tensor) -> Tensor:
        """Codes of the first g groups (B, T, g * D) -> standardised features (B, T, 40)."""
        y, _ = self.decoder(self.bsq.pad_codes(codes))
        return y

    def to_features(self, y: Tensor) -> Tensor:
        """Standardised (B, T, 40) -> FARGAN features (B, 2 T, 20)."""
        f = y * self.std + self.mean
        return f.reshape(f.shape[0], -1, NB_FEATURES)


class PitchLadderCodec(FeatureLadderCodec):
    """``FeatureLadderCodec`` whose group-0 token starts with scalar bits: ``pitch_bits`` P bits
    of the mean pitch feature of the token's two frames, uniform over ``PITCH_RANGE``, then
    ``corr_bits`` C bits of their mean pitch correlation (voicing), uniform over ``CORR_RANGE``
    (each MSB first), followed by 12 - P - C learned bits; groups 1-3 are learned as before.
    The decoder gets the dequantised values as extra inputs and predicts the frames' pitch and
    correlation features as residuals on them, so every rung carries the period to within a few
    per cent (a learned code regresses it: probe fl-d2 misses by > 5 % in a third of voiced
    frames) and the voicing coarsely (the true correlation alone lifts fl-pw's STOI by 0.08).
    """

    PITCH_RANGE = (-1.55, 1.55)  # pitch feature of periods ~262 .. ~31 samples
    CORR_RANGE = (-0.5, 0.5)  # the correlation feature's range in dump_data's output
    PITCH, CORR = 18, 19  # feature indices in a 20-value frame

    def __init__(self, dim: int = 256, gru_dim: int = 384, bits: int = 12, groups: int = 4,
                 delay_tokens: int = 0, pitch_bits: int = 6, corr_bits: int = 0) -> None:
        super().__init__(dim, gru_dim, bits, groups, delay_tokens)
        if not 0 < pitch_bits or corr_bits < 0 or pitch_bits + corr_bits >= bits:
            raise ValueError(f"pitch_bits >= 1, corr_bits >= 0 and their sum < {bits}, got "
                             f"{pitch_bits} and {corr_bits}")
        self.pitch_bits, self.corr_bits = pitch_bits, corr_bits
        self.fields = scalar_fields(self.scalar_spec(pitch_bits, corr_bits))
        self.scalar_bits = pitch_bits + corr_bits
        latent = self.bsq.latent_dim
        self.encoder = CausalBlock(TOKEN_FEATURES, latent - self.scalar_bits, dim, dim)
        self.decoder = CausalBlock(latent + len(self.fields), TOKEN_FEATURES, dim, gru_dim)

    @classmethod
    def scalar_spec(cls, pitch_bits: int, corr_bits: int) -> list[list[float]]:
        """The ``[index, lo, hi, bits]`` fields (the product modules' ``scalars`` config)."""
        spec: list[list[float]] = [[cls.PITCH, *cls.PITCH_RANGE, pitch_bits]]
        if corr_bits:
            spec.append([cls.CORR, *cls.CORR_RANGE, corr_bits])
        return spec

    def scalars_to_codes(self, feats: Tensor) -> Tensor:
        """Raw features (B, T, 40) -> scalar codes (B, T, P + C) of +-1/sqrt(12)."""
        return feats_to_scalar_codes(feats, self.fields, self.bsq.scale)

    def codes_to_scalars(self, codes: Tensor) -> Tensor:
        """Codes (B, T, >= P + C) -> dequantised pitch (and correlation) features (B, T, 1|2)."""
        return scalar_codes_to_values(codes, self.fields)

    def pitch_to_codes(self, feats: Tensor) -> Tensor:
        """Raw features (B, T, 40) -> pitch codes (B, T, P)."""
        return self.scalars_to_codes(feats)[..., : self.pitch_bits]

    def codes_to_pitch(self, codes: Tensor) -> Tensor:
        """Codes (B, T, >= P) -> dequantised pitch feature (B, T)."""
        return self.codes_to_scalars(codes)[..., 0]

    def encode(self, feats: Tensor) -> Tensor:
        lats, _ = self.encoder((feats - self.mean) / self.std)
        # as the product: FeatureCompressor, then the quantizer's per-group normalisation
        return self.bsq.normalize(with_scalar_codes(lats, feats, self.fields, self.bsq.dim))

    def decode(self, codes: Tensor) -> Tensor:
        inputs, base = scalar_inputs_and_base(codes, self.fields, self.mean, self.std)
        y, _ = self.decoder(torch.cat([self.bsq.pad_codes(codes), inputs], dim=-1))
        return y + base



class HybridLadderCodec(PitchLadderCodec):
    """A ladder whose group 0 is focal-small v6's own 12-bit token, so the 0.6 kbit/s rung is
    v6 (decoded by v6's decoder, bit for bit the default) and groups 1-3 add FARGAN rungs.

    Input rows are (B, T, 40 + 12): the token's raw features, then v6's codes of that token
    (+-1/sqrt(12), ``focalcli.model.bsq`` order). The encoder sees both and learns the bits of
    groups 1-3; group 1 starts with the pitch / correlation scalar bits (``pitch_bits``,
    ``corr_bits``) that group 0 carries in ``PitchLadderCodec``. The decoder takes 2 or more
    groups (``rungs``): the FARGAN path starts at 1.2 kbit/s.
    """

    rungs = (2, 4)

    def __init__(self, dim: int = 256, gru_dim: int = 384, bits: int = 12, groups: int = 4,
                 delay_tokens: int = 0, pitch_bits: int = 6, corr_bits: int = 0) -> None:
        super().__init__(dim, gru_dim, bits, groups, delay_tokens, pitch_bits, corr_bits)
        latent = self.bsq.latent_dim
        self.encoder = CausalBlock(TOKEN_FEATURES + bits, latent - bits - self.scalar_bits,
                                   dim, dim)

    def encode(self, feats: Tensor) -> Tensor:
        raw, v6_codes = feats[..., :TOKEN_FEATURES], feats[..., TOKEN_FEATURES:]
        x = torch.cat([(raw - self.mean) / self.std, v6_codes / self.bsq.scale], dim=-1)
        lats, _ = self.encoder(x)
        rest = with_scalar_codes(lats, raw, self.fields, self.bsq.dim)
        return self.bsq.normalize(torch.cat([v6_codes, rest], dim=-1))

    def decode(self, codes: Tensor) -> Tensor:
        if codes.shape[-1] < 2 * self.bsq.dim:
            raise ValueError("the hybrid ladder's FARGAN path needs at least 2 groups")
        inputs, base = scalar_inputs_and_base(codes[..., self.bsq.dim :], self.fields,
                                              self.mean, self.std)
        y, _ = self.decoder(torch.cat([self.bsq.pad_codes(codes), inputs], dim=-1))
        return y + base


def with_v6_codes(data: dict[str, np.ndarray]) -> Tensor:
    """A cached split -> (N, 40 + 12) float rows: features, then v6's codes of each token."""
    from focalcli.model.bsq import BinarySphericalQuantizer

    v6 = BinarySphericalQuantizer(2**12, 1)
    toks = torch.from_numpy(data["toks"].astype(np.int64))
    feats = torch.from_numpy(data["feats"]).float()
    return torch.cat([feats, v6.toks_to_codes(toks).float()], dim=-1)


def rung_groups(codec: FeatureLadderCodec) -> tuple[int, ...]:
    """The rungs (groups decoded) a codec trains and decodes."""
    return getattr(codec, "rungs", RUNG_GROUPS)


def split_rows(codec: FeatureLadderCodec, data: dict[str, np.ndarray]) -> Tensor:
    """A cached split -> the codec's input rows: (N, 40) features, or (N, 52) for a hybrid."""
    if isinstance(codec, HybridLadderCodec):
        return with_v6_codes(data)
    return torch.from_numpy(data["feats"]).float()

def feature_weights(std: Tensor) -> Tensor:
    """Per-value loss weights (40,): cepstral errors half by the coefficient's variance, half
    standardised (as probe (a)); pitch x4, since FARGAN's excitation follows it directly."""
    w = torch.ones(NB_FEATURES)
    var = std.reshape(FRAMES_PER_TOKEN, NB_FEATURES)[:, :18].mean(0) ** 2
    w[:18] = 0.5 + 0.5 * var / var.mean()
    w[18] = 4.0
    return w.repeat(FRAMES_PER_TOKEN)


def voiced_weights(feats: Tensor, weights: Tensor, voiced_pitch_weight: float) -> Tensor:
    """Raw features (B, T, 40) -> per-value weights (B, T, 40): ``weights``, plus
    ``voiced_pitch_weight`` on the pitch feature of voiced frames (pitch correlation feature
    > 0.1), where FARGAN's excitation needs the period to within a few per cent."""
    w = weights.expand(feats.shape).clone()
    for frame in range(FRAMES_PER_TOKEN):
        pitch = frame * NB_FEATURES + 18
        voiced = feats[..., pitch + 1] > 0.1
        w[..., pitch] += voiced_pitch_weight * voiced.to(w.dtype)
    return w


def ladder_loss(codec: FeatureLadderCodec, feats: Tensor, weights: Tensor,
                voiced_pitch_weight: float = 0.0) -> tuple[Tensor, list[float]]:
    """Raw features (B, T + D, 40) -> (summed loss over the rungs, per-rung weighted MSE)."""
    D = codec.delay_tokens
    codes = codec.quantise(codec.encode(feats))
    raw = feats[:, : feats.shape[1] - D, :TOKEN_FEATURES]
    target = (raw - codec.mean) / codec.std
    if voiced_pitch_weight:
        weights = voiced_weights(raw, weights, voiced_pitch_weight)
    bits = codec.bsq.dim
    rungs = rung_groups(codec)
    # All rungs in one decoder call (batch R x B): bigger matrix products, the same sums.
    width = codes.shape[-1]
    masks = [torch.arange(width) < g * bits for g in rungs]
    y = codec.decode(torch.cat([codes * m.to(codes.dtype) for m in masks]))[:, D:]
    w = weights.expand_as(target).repeat(len(rungs), 1, 1)
    mse = (y - target.repeat(len(rungs), 1, 1)) ** 2 * w
    per_rung_t = mse.unflatten(0, (len(rungs), -1)).mean(dim=(1, 2, 3))
    total = per_rung_t.sum()
    per_rung = [float(v) for v in per_rung_t.detach()]
    return total, per_rung


def concat_splits(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Cached splits -> one split: their tokens end to end, offsets shifted to match."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("feats", "toks")}
    offsets, base = [np.zeros(1, dtype=np.int64)], 0
    for p in parts:
        offsets.append(p["offsets"][1:] + base)
        base += int(p["offsets"][-1])
    out["offsets"] = np.concatenate(offsets)
    return out


def train(run: str, steps: int, delay_tokens: int, seq_tokens: int = 150, batch: int = 16,
          lr: float = 1e-3, dim: int = 256, gru_dim: int = 384,
          voiced_pitch_weight: float = 0.0, pitch_bits: int = 0, corr_bits: int = 0,
          hybrid: bool = False, speeds: tuple[float, ...] = (), init: str | None = None,
          copies: tuple[str, ...] = ()) -> None:
    """Train (or resume) run ``run`` to ``steps``; ``speeds`` adds the speed-perturbed copies
    of the training split (``vocoder_probe cache --speed S``) to what crops are drawn from,
    ``copies`` any other caches by name (``train-tilt3``, a cached folder's ``NAME``);
    ``init`` (a hybrid model, any ``--model`` source) starts a new run from its trained
    blocks and units instead of random weights (a fine-tune on its own LR schedule)."""
    torch.set_num_threads(1)
    real = load_split("train")
    data = concat_splits([real] + [load_split("train", s) for s in speeds]
                         + [load_cache(c) for c in copies])
    dev = load_split("dev")
    feats = with_v6_codes(data) if hybrid else torch.from_numpy(data["feats"]).float()
    offsets = data["offsets"]
    run_dir = RUNS / run
    run_dir.mkdir(parents=True, exist_ok=True)
    codec = make_codec(dim, gru_dim, delay_tokens, pitch_bits, corr_bits, hybrid)
    # Standardised on the real speech only, so augmentation does not move the units.
    n_real = int(real["offsets"][-1])
    codec.mean.copy_(feats[:n_real, :TOKEN_FEATURES].mean(0))
    codec.std.copy_(feats[:n_real, :TOKEN_FEATURES].std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(codec.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    last = run_dir / "last.pt"
    if init and not last.exists():
        init_from_model(codec, init)
        print(f"initialised from {init}", file=sys.stderr)
    if last.exists():
        ck = torch.load(last, weights_only=True)
        codec.load_state_dict(ck["codec"])
        opt.load_state_dict(ck["opt"])
        step = int(ck["step"])
        print(f"resumed {last} at step {step}", file=sys.stderr)
    weights = feature_weights(codec.std)
    rng = np.random.default_rng(step)
    lengths = np.diff(offsets)
    ok = np.nonzero(lengths > seq_tokens + delay_tokens)[0]
    t0 = time.time()
    while step < steps:
        files = rng.choice(ok, batch)
        starts = [offsets[f] + rng.integers(0, lengths[f] - seq_tokens - delay_tokens)
                  for f in files]
        x = torch.stack([feats[s : s + seq_tokens + delay_tokens] for s in starts])
        loss, per_rung = ladder_loss(codec, x, weights, voiced_pitch_weight)
        for gr in opt.param_groups:
            gr["lr"] = lr * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * (1 - step / steps))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 250 == 0 or step == steps:
            dev_rungs, usage = evaluate(codec, dev, weights)
            print(f"step {step} train {' '.join(f'{v:.3f}' for v in per_rung)} dev "
                  f"{' '.join(f'{v:.3f}' for v in dev_rungs)} group-0 codes used {usage} "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
            ck = {"codec": codec.state_dict(), "opt": opt.state_dict(), "step": step,
                  "delay_tokens": delay_tokens, "dim": dim, "gru_dim": gru_dim,
                  "pitch_bits": pitch_bits, "corr_bits": corr_bits, "hybrid": hybrid,
                  "voiced_pitch_weight": voiced_pitch_weight, "steps": steps,
                  "speeds": list(speeds), "copies": list(copies), "init": init or "",
                  "lr": lr}
            torch.save(ck, run_dir / "tmp.pt")
            (run_dir / "tmp.pt").replace(last)


@torch.no_grad()
def evaluate(codec: FeatureLadderCodec, dev: dict[str, np.ndarray], weights: Tensor
             ) -> tuple[list[float], int]:
    """-> (per-rung weighted MSE on dev, distinct group-0 tokens used on dev)."""
    feats = split_rows(codec, dev)
    offsets = dev["offsets"]
    D = codec.delay_tokens
    rungs = rung_groups(codec)
    totals = [0.0] * len(rungs)
    count = 0
    toks = []
    bits = codec.bsq.dim
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        x = feats[a:b][None]
        codes = codec.bsq.lats_to_codes(codec.encode(x))
        toks.append(codec.bsq.codes_to_toks(codes)[0, :, 0])
        target = (x[:, : x.shape[1] - D, :TOKEN_FEATURES] - codec.mean) / codec.std
        for i, g in enumerate(rungs):
            y = codec.decode(codes[..., : g * bits])[:, D:]
            totals[i] += float(((y - target) ** 2 * weights).sum())
        count += target.numel()
    return [t / max(count, 1) for t in totals], int(torch.cat(toks).unique().numel())


def init_from_model(codec: FeatureLadderCodec, source: str) -> None:
    """Load a hybrid model's trained blocks and feature units into ``codec`` (a
    ``HybridLadderCodec`` of the same shapes, delay and scalar fields)."""
    from focalcli.model.loading import ModelLoadError
    from focalcli.train.fargan_export import ExportError, probe_state_from_hybrid, read_model

    if not isinstance(codec, HybridLadderCodec):
        raise ProbeError("--init needs --hybrid")
    try:
        config, tensors, _ = read_model(source)
        state = probe_state_from_hybrid(tensors)
    except (ModelLoadError, ExportError) as e:
        raise ProbeError(f"--init {source}: {e}") from None
    decomp = (config.get("decompressor_config") or {}).get("feature_config") or {}
    want = codec.scalar_spec(codec.pitch_bits, codec.corr_bits)
    if decomp.get("scalars") != want or int(decomp.get("delay_tokens", -1)) != codec.delay_tokens:
        raise ProbeError(f"--init {source}: its delay {decomp.get('delay_tokens')} and scalar "
                         f"fields {decomp.get('scalars')} differ from this run's "
                         f"{codec.delay_tokens} and {want}")
    state.update({k: v for k, v in codec.state_dict().items() if k.startswith("bsq.")})
    try:
        codec.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ProbeError(f"--init {source}: the weights do not fit this run's shapes "
                         f"(--dim, --gru-dim): {str(e).splitlines()[0]}") from None


def make_codec(dim: int, gru_dim: int, delay_tokens: int, pitch_bits: int, corr_bits: int,
               hybrid: bool) -> FeatureLadderCodec:
    if hybrid:
        if not pitch_bits:
            raise ProbeError("--hybrid needs --pitch-bits")
        return HybridLadderCodec(dim, gru_dim, delay_tokens=delay_tokens, pitch_bits=pitch_bits,
                                 corr_bits=corr_bits)
    if pitch_bits:
        return PitchLadderCodec(dim, gru_dim, delay_tokens=delay_tokens, pitch_bits=pitch_bits,
                                corr_bits=corr_bits)
    return FeatureLadderCodec(dim, gru_dim, delay_tokens=delay_tokens)


def load_run(run: str) -> FeatureLadderCodec:
    path = RUNS / run / "last.pt"
    if not path.exists():
        raise ProbeError(f"{path} missing: train first")
    ck = torch.load(path, weights_only=True)
    codec = make_codec(int(ck["dim"]), int(ck["gru_dim"]), int(ck["delay_tokens"]),
                       int(ck.get("pitch_bits", 0)), int(ck.get("corr_bits", 0)),
                       bool(ck.get("hybrid", False)))
    codec.load_state_dict(ck["codec"])
    return codec.eval()


@torch.no_grad()
def decode(run: str, rung: int, out: Path, limit: int, true: tuple[str, ...] = ()) -> None:
    """Dev files -> 16 kHz WAVs in ``out`` through the run's codec at ``rung`` groups and
    FARGAN; ``true`` names features (``TRUE_FIELDS``) taken from the input instead of the
    decoder, a diagnostic of what each costs."""
    import soundfile as sf

    from focalcli.train.data import read_audio

    torch.set_num_threads(1)
    codec = load_run(run)
    if rung not in rung_groups(codec):
        raise ProbeError(f"--rung {rung}: expected one of {rung_groups(codec)} groups")
    fargan = load_fargan()
    dev = load_split("dev")
    names = [str(n) for n in dev["names"]]
    offsets = dev["offsets"]
    by_name = {n: (int(a), int(b)) for n, a, b in zip(names, offsets[:-1], offsets[1:],
                                                         strict=True)}
    feats_all = split_rows(codec, dev)
    out.mkdir(parents=True, exist_ok=True)
    files = manifest("dev")[: limit or None]
    D = codec.delay_tokens
    t_codec = t_voc = audio_s = 0.0
    bits = codec.bsq.dim
    for path in files:
        sig = read_audio(path)
        a, b = by_name[f"{path.parent.name}/{path.name}"]
        x = feats_all[a:b][None]
        t0 = time.perf_counter()
        codes = codec.bsq.lats_to_codes(codec.encode(nn.functional.pad(x, (0, 0, 0, D))))
        y = codec.decode(codes[..., : rung * bits])[:, D:]
        feats = codec.to_features(y)[0].numpy()
        if true:
            original = x[0, :, :TOKEN_FEATURES].reshape(-1, NB_FEATURES).numpy()
            feats = with_true(feats, original, true)
        t_codec += time.perf_counter() - t0
        t0 = time.perf_counter()
        wav = feats_to_wav(fargan, feats, len(sig))
        t_voc += time.perf_counter() - t0
        audio_s += len(sig) / 16000
        name = path.stem + ".wav"
        sf.write(out / f".{name}.tmp.wav", wav, 16000, subtype="PCM_16")
        (out / f".{name}.tmp.wav").replace(out / name)
    print(f"{len(files)} files to {out}; codec {t_codec / audio_s:.4f} s/s, "
          f"FARGAN {t_voc / audio_s:.4f} s/s", file=sys.stderr)


TRUE_FIELDS = {"ceps": slice(0, 18), "pitch": slice(18, 19), "corr": slice(19, 20)}


def with_true(decoded: np.ndarray, original: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """Decoded and original features (2 T, 20) -> decoded with ``fields`` from the original."""
    out = decoded.copy()
    for name in fields:
        if name not in TRUE_FIELDS:
            raise ProbeError(f"--true {name}: expected some of {', '.join(TRUE_FIELDS)}")
        out[:, TRUE_FIELDS[name]] = original[: len(out), TRUE_FIELDS[name]]
    return out


def _speeds(text: str) -> tuple[float, ...]:
    """'0.9,1.1' -> (0.9, 1.1), for argparse (a bad value is its one-line usage error)."""
    try:
        return tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.9,1.1, got {text!r}") from None


def _copies(text: str) -> tuple[str, ...]:
    """'train-tilt3,debian' -> ('train-tilt3', 'debian'), for argparse."""
    names = tuple(v for v in text.split(",") if v)
    for name in names:
        if "/" in name or name in ("train", "dev") or name.startswith("dev-"):
            raise argparse.ArgumentTypeError(f"{name!r}: expected a cache name such as "
                                             "train-tilt3 (not the train or dev split)")
    return names


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m focalcli.train.feature_ladder_probe",
                                 description="a learned bitrate ladder over FARGAN's features")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--run", default="feature-ladder")
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--delay-tokens", type=int, default=0)
    t.add_argument("--dim", type=int, default=256)
    t.add_argument("--gru-dim", type=int, default=384)
    t.add_argument("--pitch-bits", type=int, default=0,
                   help="group 0 starts with this many bits of scalar pitch (0: all learned)")
    t.add_argument("--corr-bits", type=int, default=0,
                   help="with --pitch-bits: then this many bits of scalar pitch correlation")
    t.add_argument("--voiced-pitch-weight", type=float, default=0.0,
                   help="extra loss weight on the pitch of voiced frames")
    t.add_argument("--speeds", type=_speeds, default=(),
                   help="comma-separated speed perturbations to add to the training split "
                        "(e.g. 0.9,1.1; each cached by 'vocoder_probe cache --speed S')")
    t.add_argument("--copies", type=_copies, default=(),
                   help="comma-separated further caches to draw crops from (e.g. "
                        "train-tilt3 from 'vocoder_probe cache --tilt 3', or a cached folder)")
    t.add_argument("--hybrid", action="store_true",
                   help="group 0 is v6's token; the scalar bits lead group 1")
    t.add_argument("--init", default=None,
                   help="with --hybrid: start from this hybrid model's weights (a fine-tune)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    d = sub.add_parser("decode")
    d.add_argument("--run", default="feature-ladder")
    d.add_argument("--rung", type=int, default=1, help="groups of 12 bits: 1, 2 or 4")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--limit", type=int, default=0)
    d.add_argument("--true", default="",
                   help="comma-separated features taken from the input: ceps, pitch, corr")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "train":
            train(args.run, args.steps, args.delay_tokens, dim=args.dim, gru_dim=args.gru_dim,
                  voiced_pitch_weight=args.voiced_pitch_weight, pitch_bits=args.pitch_bits,
                  corr_bits=args.corr_bits, hybrid=args.hybrid, speeds=args.speeds,
                  init=args.init, lr=args.lr, copies=args.copies)
        else:
            true = tuple(f for f in args.true.split(",") if f)
            decode(args.run, args.rung, args.out, args.limit, true)
    except ProbeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a write, for OpenMP: idle threads sleep
    sys.exit(main(sys.argv[1:]))

