"""Training data: speech files from the shared manifest (or a folder) as random fixed-length crops.

All audio is read once into memory as float32 at 16 kHz (about 0.5 GB for the 2 h corpus),
leading/trailing silence trimmed. A crop is drawn by picking a source (per-source weights), then a
file (by duration), then an offset; near-silent crops are redrawn. Each crop is loudness-normalised
to a random target level (gain augmentation) and optionally gets a little white noise.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SAMPLE_RATE = 16000
AUDIO_EXTS = (".flac", ".wav", ".ogg")


@dataclass
class DataConfig:
    """Where the audio comes from and how crops are made (levels in dBFS, times in seconds)."""

    manifest: str | None = "/work/shared/data/speech/manifest.tsv"
    split: str = "train"
    folders: list[str] = field(default_factory=list)
    source_weights: dict[str, float] = field(default_factory=dict)
    crop_seconds: float = 1.6
    level_db: tuple[float, float] = (-32.0, -16.0)
    noise_prob: float = 0.2
    noise_snr_db: tuple[float, float] = (30.0, 50.0)
    dither_db: float = -80.0
    trim_db: float = -45.0
    min_crop_rms_db: float = -50.0
    max_files: int | None = None


def source_of(path: str, corpus: str | None = None) -> str:
    """Group name for sampling weights: the manifest corpus prefix or the parent folder."""
    if corpus:
        return corpus.split("-")[0]
    return Path(path).parent.name


def read_audio(path: Path) -> np.ndarray:
    """Mono float32 samples at 16 kHz (resampled with soxr if needed)."""
    import soundfile as sf

    sig, sr = sf.read(str(path), dtype="float32", always_2d=True)
    sig = sig.mean(axis=1)
    if sr != SAMPLE_RATE:
        import soxr

        sig = soxr.resample(sig, sr, SAMPLE_RATE).astype(np.float32)
    return sig


def trim_silence(sig: np.ndarray, threshold_db: float, frame: int = 320) -> np.ndarray:
    """Cut leading and trailing 20 ms frames whose RMS is below ``threshold_db`` re peak frame."""
    n = len(sig) // frame
    if n < 2:
        return sig
    rms = np.sqrt(np.mean(sig[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > threshold_db)[0]
    if len(loud) == 0:
        return sig
    start = max(0, (loud[0] - 2) * frame)
    end = min(len(sig), (loud[-1] + 3) * frame)
    return sig[start:end]


def data_folders(cfg: DataConfig) -> list[Path]:
    """The config's ``folders``, with ``~`` expanded."""
    return [Path(folder).expanduser() for folder in cfg.folders]


def list_files(cfg: DataConfig) -> list[tuple[Path, str]]:
    """(path, source) pairs of the selected split and folders."""
    files: list[tuple[Path, str]] = []
    if cfg.manifest:
        root = Path(cfg.manifest).parent
        with open(cfg.manifest, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["split"] == cfg.split:
                    files.append((root / row["path"], source_of(row["path"], row["corpus"])))
    for top in data_folders(cfg):
        for p in sorted(top.rglob("*")):
            if p.suffix.lower() in AUDIO_EXTS:
                files.append((p, top.name))
    if cfg.max_files is not None:
        files = files[: cfg.max_files]
    return files


class CropSampler:
    """Draws batches of crops; deterministic given the ``numpy.random.Generator`` passed in."""

    def __init__(self, cfg: DataConfig, signals: Sequence[np.ndarray] | None = None,
                 sources: Sequence[str] | None = None, align: int = 1) -> None:
        """``align`` > 1 draws crop offsets in whole multiples of ``align`` samples (so that
        precomputed per-frame targets line up with the crop); 1 keeps the original draws.
        ``last_picks`` holds, after each ``batch``, one ``(file index, offset)`` per crop:
        crop sample j is signal sample ``j + offset`` (a short file lies whole inside a
        silent crop, at a negative offset)."""
        self.cfg = cfg
        self.align = max(1, int(align))
        self.last_picks: list[tuple[int, int]] = []
        self.crop = int(round(cfg.crop_seconds * SAMPLE_RATE))
        if signals is None:
            pairs = list_files(cfg)
            if not pairs:
                raise ValueError("no training audio found")
            signals = [trim_silence(read_audio(p), cfg.trim_db) for p, _ in pairs]
            sources = [s for _, s in pairs]
        self.signals = [s for s in signals]
        self.sources = list(sources or ["data"] * len(self.signals))
        self.by_source: dict[str, list[int]] = {}
        for i, s in enumerate(self.sources):
            self.by_source.setdefault(s, []).append(i)
        names = sorted(self.by_source)
        weights = np.array([cfg.source_weights.get(n, 1.0) for n in names], dtype=np.float64)
        self.source_names = names
        self.source_probs = weights / weights.sum()
        self.file_probs = {}
        for n in names:
            lengths = np.array([max(1, len(self.signals[i])) for i in self.by_source[n]], float)
            self.file_probs[n] = lengths / lengths.sum()

    @property
    def total_seconds(self) -> float:
        return sum(len(s) for s in self.signals) / SAMPLE_RATE

    def _one(self, rng: np.random.Generator) -> np.ndarray:
        cfg = self.cfg
        for _ in range(20):
            src = self.source_names[rng.choice(len(self.source_names), p=self.source_probs)]
            idx = self.by_source[src][rng.choice(len(self.by_source[src]), p=self.file_probs[src])]
            sig = self.signals[idx]
            a = self.align
            if len(sig) <= self.crop:
                crop = np.zeros(self.crop, np.float32)
                off = int(rng.integers(0, (self.crop - len(sig)) // a + 1)) * a
                crop[off : off + len(sig)] = sig
                pick = (int(idx), -off)
            else:
                off = int(rng.integers(0, (len(sig) - self.crop) // a + 1)) * a
                crop = sig[off : off + self.crop].copy()
                pick = (int(idx), off)
            rms = math.sqrt(float(np.mean(crop**2)) + 1e-12)
            if 20 * math.log10(rms) > cfg.min_crop_rms_db:
                break
        self.last_picks.append(pick)
        target = 10 ** (rng.uniform(*cfg.level_db) / 20)
        crop = crop * (target / rms)
        peak = float(np.abs(crop).max())
        if peak > 0.99:
            crop *= 0.99 / peak
        return crop.astype(np.float32)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(clean, noisy_input)``, both (size, crop) float32 at 16 kHz.

        The input may carry light white noise (augmentation); the target is the clean crop.
        """
        self.last_picks = []
        clean = np.stack([self._one(rng) for _ in range(size)])
        # A dither floor on the input: exact digital silence makes every LayerNorm of the conv
        # front end see zero variance, which blows gradients up by ~300x per layer.
        dither = 10 ** (self.cfg.dither_db / 20)
        noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * dither
        for i in range(size):
            if rng.random() < self.cfg.noise_prob:
                rms = math.sqrt(float(np.mean(clean[i] ** 2)) + 1e-12)
                snr = rng.uniform(*self.cfg.noise_snr_db)
                noisy[i] += rng.standard_normal(self.crop).astype(np.float32) * rms * 10 ** (
                    -snr / 20)
        return torch.from_numpy(clean), torch.from_numpy(noisy)
