"""Helpers for the CLI tests (fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

#: the `run` fixture: run(*args, input=, env=, expect=, cwd=) -> CompletedProcess
Run = Callable[..., subprocess.CompletedProcess]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.decode().splitlines() if line.startswith("focal: error")]


def write_edge_cases(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Synthesized inputs that must encode; returns {name: (rate, frames, channels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
        t = np.arange(int(rate * seconds)) / rate
        sig = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
        return np.repeat(sig[:, None], channels, axis=1).astype(np.float32)

    cases = {
        "empty.wav": (np.zeros((0, 1), np.float32), 16000, "PCM_16"),
        "one_sample.wav": (np.full((1, 1), 0.25, np.float32), 16000, "PCM_16"),
        "silence.wav": (np.zeros((8000, 1), np.float32), 16000, "PCM_16"),
        "clipping.wav": (np.clip(tone(16000, 0.5) * 4, -1.5, 1.5), 16000, "FLOAT"),
        "u8.wav": (tone(16000, 0.4), 16000, "PCM_U8"),
        "s24.wav": (tone(16000, 0.4), 16000, "PCM_24"),
        "f32.wav": (tone(16000, 0.4), 16000, "FLOAT"),
        "rate8k.wav": (tone(8000, 0.5), 8000, "PCM_16"),
        "rate48k.flac": (tone(48000, 0.5), 48000, "PCM_16"),
        "rate44k1.ogg": (tone(44100, 0.5), 44100, "VORBIS"),
        "stereo.wav": (tone(22050, 0.5, 2), 22050, "PCM_16"),
    }
    out = {}
    for name, (sig, rate, subtype) in cases.items():
        sf.write(folder / name, sig, rate, subtype=subtype)
        info = sf.info(folder / name)
        out[name] = (rate, int(info.frames), sig.shape[1])
    return out
