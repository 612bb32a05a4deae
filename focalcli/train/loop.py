"""The training loop: joint end-to-end training of the whole codec on random crops.

One step: crops (B, N) at 16 kHz -> encoder -> compressor -> L2-normalised latents (B, T, D) ->
straight-through binary quantisation (ramped in) -> decompressor -> decoder -> (B, N) waveform,
scored against the clean crop with multi-resolution spectral losses plus quantiser terms.
Optionally a cheap GAN (multi-period + multi-resolution STFT discriminators, feature matching).

Checkpoints (model, optimisers, step, RNG states, CPU time) go to
``~/.cache/focal/train/<run>/last.pt`` every few minutes and at the end; resuming continues
exactly where the checkpoint left off.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from focalcli.model.codec import FocalCodec
from focalcli.model.decoders import Vocos
from focalcli.model.pitch import sig_to_pitch
from focalcli.train.config import TrainConfig
from focalcli.train.data import CropSampler
from focalcli.train.losses import (
    MultiResolutionSpectralLoss,
    PitchHead,
    TeacherHead,
    bit_balance_loss,
    code_usage,
    commitment_loss,
    distill_loss,
    group_entropy_loss,
    pitch_loss,
    quantize_ste,
    waveform_loss,
)

#: The stop request of a running :meth:`Trainer.fit`: set it (a signal handler, another thread,
#: `focal train` on Ctrl-C) and the loop stops after the current step, saves a checkpoint and
#: returns. `fit` clears it when it starts and sets it on SIGTERM. TRAINING is set while the
#: loop runs (a request outside it has nothing to stop).
STOP_REQUEST = threading.Event()
TRAINING = threading.Event()


def default_run_dir(run: str) -> Path:
    """``$FOCAL_TRAIN_DIR/<run>`` or ``~/.cache/focal/train/<run>``."""
    from focalcli.settings import read_environment

    return read_environment().train_dir / run


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of the base learning rate at ``step`` (warm-up, then cosine)."""
    o = cfg.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, cfg.steps - o.warmup_steps))
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def quant_mix(step: int, cfg: TrainConfig) -> float:
    """Fraction of quantisation applied at ``step`` (0 = continuous latents, 1 = binary codes)."""
    start, end = cfg.loss.quant_ramp
    if step >= end:
        return 1.0
    if step < start:
        return 0.0
    return (step - start) / max(1, end - start)


class Forward(NamedTuple):
    """One offline pass over crops: decoded (B, N'), lats and codes (B, T, D), the decoder's
    input qfeats (B, T, C), and the harmonic decoder's (log-f0, voicing logit) or None."""

    decoded: Tensor
    lats: Tensor
    codes: Tensor
    qfeats: Tensor
    pitch: tuple[Tensor, Tensor] | None


def has_harmonic_decoder(codec: FocalCodec) -> bool:
    """Whether the decoder predicts its own pitch (a Vocos with a harmonic head)."""
    return isinstance(codec.decoder, Vocos) and codec.decoder.harmonic is not None


def rung_mask(groups: Tensor, codec: FocalCodec) -> Tensor:
    """(B,) int group counts -> (B, 1, G*D) float mask: 1 on the first g groups, 0 after."""
    d, g_max = codec.bits_per_group, codec.num_groups
    keep = torch.arange(g_max)[None, :] < groups[:, None]  # (B, G)
    return keep.repeat_interleave(d, dim=1)[:, None, :].float()


def forward_codec(codec: FocalCodec, sig: Tensor, mix: float,
                  f0_teacher: Tensor | None = None, groups: Tensor | None = None) -> Forward:
    """Offline forward pass on crops sig (B, N), quantisation blended in by ``mix``.

    ``f0_teacher`` (B, T) in Hz (NaN where unvoiced) drives a harmonic decoder's voice.
    ``groups`` (B,) int (grouped quantizers): item b decodes from its first ``groups[b]``
    groups only, the others zero (random rung truncation); None = every group.
    """
    feats, _ = codec.sig_to_feats(sig)
    lats, _ = codec.feats_to_lats(feats)
    codes = codec.lats_to_codes(lats)
    quant = quantize_ste(lats, codes, mix)
    if groups is not None:
        quant = quant * rung_mask(groups, codec)
    qfeats, _ = codec.codes_to_qfeats(quant)
    if has_harmonic_decoder(codec):
        assert isinstance(codec.decoder, Vocos)
        out, _, pitch = codec.decoder.forward_with_pitch(qfeats, f0_teacher=f0_teacher)
        return Forward(out, lats, codes, qfeats, pitch)
    out, _ = codec.qfeats_to_sig(qfeats)
    return Forward(out, lats, codes, qfeats, None)


def resample_out(y: Tensor, codec: FocalCodec) -> Tensor:
    """Decoded signal at ``sample_rate_output`` -> 16 kHz (identity for hop 320)."""
    if codec.sample_rate_output == codec.sample_rate_input:
        return y
    n = y.shape[-1] * codec.sample_rate_input // codec.sample_rate_output
    return nn.functional.interpolate(y[:, None], size=n, mode="linear", align_corners=False)[:, 0]


def frozen_names(codec: nn.Module, prefixes: list[str]) -> set[str]:
    """Names of the parameters under any of ``prefixes`` (module paths such as ``"encoder"``).

    Raises ValueError naming a prefix that matches no parameter (a typo must not silently
    train what was meant to stay fixed).
    """
    names = [n for n, _ in codec.named_parameters()]
    out: set[str] = set()
    for prefix in prefixes:
        hits = {n for n in names if n == prefix or n.startswith(prefix + ".")}
        if not hits:
            raise ValueError(f"optim.freeze: no parameter is named {prefix!r}")
        out |= hits
    return out


class Trainer:
    """Holds the codec, losses, optimisers, data sampler and RNGs of one run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, sampler: CropSampler | None = None,
                 log: Any = print) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.log = log
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.codec = FocalCodec(cfg.model)
        if cfg.init_from:
            self._warm_start(cfg.init_from, cfg.init_random_growth)
        elif hasattr(self.codec.decoder.head, "proj") and cfg.model["decoder_name"] == "WaveNeXt":
            with torch.no_grad():  # start quiet: a random head is ~0.5 RMS, speech ~0.05
                self.codec.decoder.head.proj.weight.mul_(0.05)
                self.codec.decoder.head.proj.bias.zero_()
        self.pitch_head: PitchHead | None = None  # a probe, when the decoder has no pitch
        if cfg.loss.pitch > 0 and not has_harmonic_decoder(self.codec):
            self.pitch_head = PitchHead(int(cfg.model["decoder_config"]["input_dim"]))
        self.teacher_head: TeacherHead | None = None  # distillation, training-only
        self.teacher_store = None
        if cfg.teacher.weight > 0:
            self.teacher_store = self._load_teacher()
            self.teacher_head = TeacherHead(int(cfg.model["decoder_config"]["input_dim"]),
                                            self.teacher_store.dim, cfg.teacher.head_dim,
                                            cfg.teacher.head_kernel)
        self.codec.train()
        self.spectral = MultiResolutionSpectralLoss(cfg.loss.fft_sizes, cfg.loss.n_mels)
        o = cfg.optim
        self._freeze(o.freeze)
        self._held_rows = self._freeze_leading(o.freeze_leading)
        self._check_rungs()
        enc = [p for p in self.codec.encoder.parameters() if p.requires_grad]
        enc_ids = {id(p) for p in enc}
        rest = [p for p in self.codec.parameters() if p.requires_grad and id(p) not in enc_ids]
        if self.pitch_head is not None:
            rest += list(self.pitch_head.parameters())
        if self.teacher_head is not None:
            rest += list(self.teacher_head.parameters())
        self.opt = torch.optim.AdamW(
            [{"params": enc, "lr_mult": o.encoder_lr_mult}, {"params": rest, "lr_mult": 1.0}],
            lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.disc: nn.Module | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        if cfg.gan.enabled:
            from focalcli.train.discriminators import Discriminators

            self.disc = Discriminators(cfg.gan)
            self.opt_d = torch.optim.AdamW(self.disc.parameters(), lr=cfg.gan.lr, betas=(0.8, 0.99))
        if sampler is None:
            align = self.codec.encoder.downsample_factor if self.teacher_store is not None else 1
            sampler = CropSampler(cfg.data, align=align)
        self.sampler = sampler
        if self.teacher_store is not None:
            self._check_teacher(self.teacher_store)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.cpu_seconds = 0.0
        self.audio_seconds = 0.0
        self.last_logs: dict[str, float] = {}

    def _freeze(self, prefixes: list[str]) -> None:
        """Hold every parameter that ``optim.freeze`` names fixed."""
        names = frozen_names(self.codec, prefixes)
        if not names:
            return
        frozen = 0
        for name, p in self.codec.named_parameters():
            if name in names:
                p.requires_grad_(False)
                frozen += p.numel()
        self.log(f"frozen: {', '.join(prefixes)} ({frozen:,} parameters)")

    def _freeze_leading(self, spec: dict[str, int | list[int]]
                        ) -> list[tuple[Tensor, int, Tensor]]:
        """Hold the leading slices of the named tensors (``optim.freeze_leading``): returns
        (param, dim, saved slice) per entry."""
        params = dict(self.codec.named_parameters())
        held: list[tuple[Tensor, int, Tensor]] = []
        shown = []
        for name, value in spec.items():
            dim, n = (0, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
            if name not in params:
                raise ValueError(f"optim.freeze_leading: no parameter is named {name!r}")
            p = params[name]
            if not (0 <= dim < p.dim() and 0 < n <= p.shape[dim]):
                raise ValueError(f"optim.freeze_leading: {name} {tuple(p.shape)} has no "
                                 f"leading {n} along dim {dim}")
            saved = p.detach().narrow(dim, 0, n).clone()

            def _hook(g: Tensor, dim: int = dim, n: int = n) -> Tensor:
                g = g.clone()
                g.narrow(dim, 0, n).zero_()
                return g

            p.register_hook(_hook)
            held.append((p, dim, saved))
            shown.append(f"{name}[{':, ' * dim}:{n}]")
        if held:
            self.log("frozen slices: " + ", ".join(shown))
        return held

    def _restore_held_rows(self) -> None:
        with torch.no_grad():
            for p, dim, saved in self._held_rows:
                p.narrow(dim, 0, saved.shape[dim]).copy_(saved)

    def _check_rungs(self) -> None:
        w = self.cfg.loss
        if len(w.rung_groups) != len(w.rung_probs):
            raise ValueError("loss.rung_groups and loss.rung_probs must have the same length")
        if w.rung_groups and not all(1 <= g <= self.codec.num_groups for g in w.rung_groups):
            raise ValueError(f"loss.rung_groups {w.rung_groups}: each must be in "
                             f"1..{self.codec.num_groups} (the quantizer's num_groups)")
        if w.rung_probs and (min(w.rung_probs) < 0 or abs(sum(w.rung_probs) - 1) > 1e-6):
            raise ValueError(f"loss.rung_probs {w.rung_probs} must be >= 0 and sum to 1")

    def draw_groups(self, batch: int) -> Tensor | None:
        """(batch,) int64 group counts from ``loss.rung_groups``/``rung_probs``, or None."""
        w = self.cfg.loss
        if not w.rung_groups:
            return None
        picks = self.rng.choice(len(w.rung_groups), size=batch, p=w.rung_probs)
        return torch.tensor([w.rung_groups[i] for i in picks], dtype=torch.int64)

    def _load_teacher(self) -> Any:
        """The precomputed targets of the training split (``teacher.features``)."""
        from focalcli.train.teachers.features import load_store

        t = self.cfg.teacher
        if not t.features:
            raise ValueError("teacher.weight > 0 needs teacher.features (a targets folder)")
        return load_store(os.path.expanduser(t.features), self.cfg.data.split)

    def _check_teacher(self, store: Any) -> None:
        """The targets must belong to the sampler's files (same order, same trimmed length)."""
        files = store.meta["files"]
        sig_lens = [len(s) for s in self.sampler.signals]
        if len(files) != len(sig_lens) or any(
                int(f["samples"]) != n for f, n in zip(files, sig_lens, strict=True)):
            raise ValueError(f"{self.cfg.teacher.features}: teacher targets do not match the "
                             f"training files ({len(files)} files there, {len(sig_lens)} here)")
        if self.sampler.align % self.codec.encoder.downsample_factor:
            raise ValueError("teacher targets need crops aligned to whole frames")
        self.log(f"teacher: {store.meta.get('teacher')} layer {store.meta.get('layer')}, "
                 f"{store.feats.shape[0]:,} frames x {store.dim}")

    def teacher_targets(self, frames: int) -> tuple[Tensor, Tensor]:
        """Standardised targets (B, frames, D) and a validity mask (B, frames) for the crops of
        the last batch (``sampler.last_picks``); decoder-input frame t of a crop at file offset
        o (samples) has the teacher's frame o / 320 + t."""
        store = self.teacher_store
        assert store is not None
        hop = self.codec.encoder.downsample_factor  # samples per decoder-input frame
        picks = self.sampler.last_picks
        target = torch.zeros(len(picks), frames, store.dim)
        mask = torch.zeros(len(picks), frames, dtype=torch.bool)
        for b, (idx, off) in enumerate(picks):
            feats = store.file_frames(idx)
            first = off // hop
            lo, hi = max(0, -first), min(frames, feats.shape[0] - first)
            if hi > lo:
                target[b, lo:hi] = feats[first + lo : first + hi].float()
                mask[b, lo:hi] = True
        return (target - store.mean) / store.std, mask

    # -- state -----------------------------------------------------------------------------------
    def _warm_start(self, source: str, random_growth: list[str] | None = None) -> None:
        """Copy every tensor of ``source`` whose shape matches. A tensor that has grown (same
        rank, no dimension smaller, e.g. an input projection given extra features) gets the
        source in its leading block and zeros elsewhere, so the model starts out the same;
        under a prefix of ``random_growth`` (e.g. an output projection given extra rows) the
        new part keeps its fresh random initialisation instead."""
        from focalcli.model.loading import load_codec

        src = load_codec(os.path.expanduser(source)).state_dict()
        own = self.codec.state_dict()
        fit = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        grown = [k for k, v in src.items() if k in own and k not in fit
                 and v.dim() == own[k].dim()
                 and all(a <= b for a, b in zip(v.shape, own[k].shape, strict=True))]
        for k in grown:
            block = tuple(slice(0, n) for n in src[k].shape)
            keep = any(k == p or k.startswith(p + ".") for p in random_growth or [])
            fit[k] = own[k].clone() if keep else torch.zeros_like(own[k])
            fit[k][block] = src[k]
        self.codec.load_state_dict(fit, strict=False)
        self.log(f"init_from {source}: {len(fit)}/{len(own)} tensors loaded"
                 + (f" ({len(grown)} grown: {', '.join(grown)})" if grown else ""))

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": self.codec.state_dict(),
            "pitch_head": self.pitch_head.state_dict() if self.pitch_head is not None else None,
            "teacher_head": (self.teacher_head.state_dict() if self.teacher_head is not None
                             else None),
            "opt": self.opt.state_dict(),
            "disc": self.disc.state_dict() if self.disc is not None else None,
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "step": self.step,
            "cpu_seconds": self.cpu_seconds,
            "audio_seconds": self.audio_seconds,
            "rng_numpy": self.rng.bit_generator.state,
            "rng_torch": torch.get_rng_state(),
            "rng_python": random.getstate(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.codec.load_state_dict(state["model"])
        if self.pitch_head is not None and state.get("pitch_head") is not None:
            self.pitch_head.load_state_dict(state["pitch_head"])
        if self.teacher_head is not None and state.get("teacher_head") is not None:
            self.teacher_head.load_state_dict(state["teacher_head"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None and state.get("disc") is not None:
            self.disc.load_state_dict(state["disc"])
            assert self.opt_d is not None
            self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.audio_seconds = float(state.get("audio_seconds", 0.0))
        self.rng.bit_generator.state = state["rng_numpy"]
        torch.set_rng_state(state["rng_torch"])
        random.setstate(state["rng_python"])

    def save(self, name: str = "last.pt") -> Path:
        """Write a checkpoint atomically into the run folder."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def try_resume(self) -> bool:
        path = self.run_dir / "last.pt"
        if not path.is_file():
            return False
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.log(f"resumed {path} at step {self.step}")
        return True

    # -- one step --------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        factor = lr_factor(self.step, cfg)
        for group in self.opt.param_groups:
            group["lr"] = cfg.optim.lr * factor * group["lr_mult"]
        mix = quant_mix(self.step, cfg)
        clean, noisy = self.sampler.batch(self.rng, cfg.batch_size)
        w = cfg.loss
        target_pitch = None
        teacher = None
        if w.pitch > 0:
            with torch.no_grad():
                target_pitch = sig_to_pitch(clean, self.codec.samples_per_token_input)
            if w.pitch_teacher > 0 and self.rng.random() < w.pitch_teacher:
                log_f0, voiced = target_pitch
                teacher = torch.where(voiced, log_f0.exp(), torch.nan).double()
        groups = self.draw_groups(clean.shape[0])
        y, lats, codes, qfeats, decoder_pitch = forward_codec(self.codec, noisy, mix, teacher,
                                                              groups)
        y = resample_out(y, self.codec)[:, : clean.shape[1]]
        rung_logs: dict[str, float] = {}
        if groups is None:
            spec = self.spectral(y, clean)
        else:  # per rung, then weighted by its share: the same value as over the whole batch
            spec = {k: y.new_zeros(()) for k in ("mel", "sc", "mag")}
            for g in sorted(set(groups.tolist())):
                pick = groups == g
                part = self.spectral(y[pick], clean[pick])
                share = float(pick.sum()) / len(groups)
                for k in spec:
                    spec[k] = spec[k] + share * part[k]
                rung_logs[f"mel{g}"] = part["mel"].item()
        d, g_all = self.codec.bits_per_group, self.codec.num_groups
        parts = [(lats[..., i * d:(i + 1) * d], codes[..., i * d:(i + 1) * d])
                 for i in range(g_all)]
        commit = torch.stack([commitment_loss(lg, cg) for lg, cg in parts]).mean()
        if g_all > 1 and w.cross_group_balance:  # every pair of bits, across groups too
            balance = bit_balance_loss(lats, w.balance_temperature, group_dim=d)
        else:
            balance = torch.stack([bit_balance_loss(lg, w.balance_temperature)
                                   for lg, _ in parts]).mean()
        loss = w.mel * spec["mel"] + w.sc * spec["sc"] + w.mag * spec["mag"]
        loss = loss + w.commit * commit + w.balance * balance
        if w.group_entropy > 0:
            ent = torch.stack([group_entropy_loss(lg, w.entropy_group, w.balance_temperature)
                               for lg, _ in parts]).mean()
            loss = loss + w.group_entropy * ent
        if w.wave > 0:
            wave = waveform_loss(y, clean)
            loss = loss + w.wave * wave
        if target_pitch is not None:
            log_f0, voiced = target_pitch
            if decoder_pitch is None:
                assert self.pitch_head is not None
                decoder_pitch = self.pitch_head(qfeats)
            frames = min(decoder_pitch[0].shape[1], log_f0.shape[1])
            pitch = pitch_loss(decoder_pitch[0][:, :frames], decoder_pitch[1][:, :frames],
                               log_f0[:, :frames], voiced[:, :frames])
            loss = loss + w.pitch * pitch
        if self.teacher_head is not None:
            t = cfg.teacher
            target, valid = self.teacher_targets(qfeats.shape[1])
            student = qfeats.detach() if self.step < t.head_warmup else qfeats
            distill = distill_loss(self.teacher_head(student), target, valid, t.l1, t.cos)
            loss = loss + t.weight * distill
        logs = {"loss": loss.item(), "mel": spec["mel"].item(), "sc": spec["sc"].item(),
                "mag": spec["mag"].item(), "commit": commit.item(), "bal": balance.item(),
                **rung_logs}
        if w.group_entropy > 0:
            logs["ent"] = ent.item()
        if w.wave > 0:
            logs["wave"] = wave.item()
        if w.pitch > 0:
            logs["pitch"] = pitch.item()
        if self.teacher_head is not None:
            logs["distill"] = distill.item()
        use_gan = self.disc is not None and self.step >= cfg.gan.start_step
        if use_gan:
            loss = loss + self._generator_gan(y, clean, logs)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = nn.utils.clip_grad_norm_(self.codec.parameters(), cfg.optim.grad_clip)
        self.opt.step()
        self._restore_held_rows()
        if use_gan and self.step % cfg.gan.every == 0:
            self._discriminator_step(y.detach(), clean, logs)
        logs.update(gnorm=float(gnorm), lr=cfg.optim.lr * factor, mix=mix)
        self.step += 1
        self.audio_seconds += clean.numel() / 16000
        return logs

    def _gan_crop(self, y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        n = int(self.cfg.gan.crop_seconds * 16000)
        if x.shape[1] <= n:
            return y, x
        off = int(self.rng.integers(0, x.shape[1] - n + 1))
        return y[:, off : off + n], x[:, off : off + n]

    def _generator_gan(self, y: Tensor, x: Tensor, logs: dict[str, float]) -> Tensor:
        assert self.disc is not None
        from focalcli.train.discriminators import feature_matching_loss, generator_loss

        yc, xc = self._gan_crop(y, x)
        self._gan_pair = (yc, xc)
        for p in self.disc.parameters():
            p.requires_grad_(False)
        fake_logits, fake_feats = self.disc(yc)
        with torch.no_grad():
            _, real_feats = self.disc(xc)
        for p in self.disc.parameters():
            p.requires_grad_(True)
        adv = generator_loss(fake_logits)
        fm = feature_matching_loss(real_feats, fake_feats)
        logs.update(adv=adv.item(), fm=fm.item())
        return self.cfg.gan.adv_weight * adv + self.cfg.gan.fm_weight * fm

    def _discriminator_step(self, y: Tensor, x: Tensor, logs: dict[str, float]) -> None:
        assert self.disc is not None and self.opt_d is not None
        from focalcli.train.discriminators import discriminator_loss

        yc, xc = self._gan_pair
        real_logits, _ = self.disc(xc)
        fake_logits, _ = self.disc(yc.detach())
        loss_d = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        logs["disc"] = loss_d.item()

    # -- the run ---------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> dict[str, float]:
        """Train until ``steps`` (default ``cfg.steps``), checkpointing; returns the last logs."""
        cfg = self.cfg
        target = cfg.steps if steps is None else steps
        stop = STOP_REQUEST
        stop.clear()

        def _request_stop(signum: int, _frame: object) -> None:
            stop.set()

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _request_stop)
        TRAINING.set()
        try:
            self._loop(target, stop)
        finally:
            TRAINING.clear()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        self.save()
        return self.last_logs

    def _loop(self, target: int, stop: threading.Event) -> None:
        """Steps until ``target`` or a SIGTERM (then the caller saves a checkpoint)."""
        cfg = self.cfg
        acc: dict[str, float] = {}
        seen: dict[str, int] = {}
        n_log = 0
        t_log = last_ckpt = time.monotonic()
        self.last_logs = {}
        while self.step < target and not stop.is_set():
            t0 = time.process_time()
            logs = self.train_step()
            self.cpu_seconds += time.process_time() - t0
            for k, v in logs.items():
                acc[k] = acc.get(k, 0.0) + v
                seen[k] = seen.get(k, 0) + 1  # per key: per-rung terms are not in every step
            n_log += 1
            if self.step % cfg.log_every == 0 or self.step == target:
                dt = time.monotonic() - t_log
                parts = " ".join(f"{k} {v / seen[k]:.4g}" for k, v in acc.items()
                                 if k not in ("lr", "mix"))
                self.log(f"step {self.step} {parts} lr {logs['lr']:.2e} mix {logs['mix']:.2f} "
                         f"| {n_log / dt:.2f} steps/s "
                         f"{n_log * cfg.batch_size * cfg.data.crop_seconds / dt:.1f} audio-s/s "
                         f"cpu {self.cpu_seconds / 60:.1f} min", )
                acc, seen, n_log, t_log = {}, {}, 0, time.monotonic()
            if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                self.save(f"step{self.step:06d}.pt")
            if time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
                self.save()
                last_ckpt = time.monotonic()
            self.last_logs = logs
        if stop.is_set():
            self.log(f"SIGTERM: stopping at step {self.step}")

    @torch.no_grad()
    def code_stats(self, seconds: float = 20.0) -> tuple[int, float]:
        """Codes used and unigram entropy (bits) on fresh training crops (does not touch RNGs)."""
        rng = np.random.default_rng(12345)
        n = max(1, int(seconds / self.cfg.data.crop_seconds))
        clean, _ = self.sampler.batch(rng, n)
        self.codec.eval()
        toks, _ = self.codec.sig_to_toks(clean)
        self.codec.train()
        return code_usage(toks, self.codec.codebook_size)


def write_run_config(cfg: TrainConfig, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
