"""Helpers for the live-streaming tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def speechlike(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """float32 (n,): harmonics of a gliding 120-220 Hz pitch under 4 Hz syllable envelopes,
    plus a little noise; about the level of read speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 0.5
    sig = 0.2 * voiced * envelope + 0.005 * rng.standard_normal(t.size)
    return sig.astype(np.float32)


class Focal:
    """Runs `python -m focalcli` with the tiny model, in a temporary folder."""

    def __init__(self, model: Path, cwd: Path) -> None:
        self.cwd = cwd
        self.env = dict(os.environ, FOCAL_MODEL=str(model), HF_HUB_OFFLINE="1",
                        FOCAL_THREADS="1")

    def argv(self, *args: str | Path) -> list[str]:
        return [sys.executable, "-m", "focalcli", *map(str, args)]

    def __call__(self, *args: str | Path, input: bytes | None = None, expect: int | None = 0,
                 env: dict[str, str] | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(self.argv(*args), input=input, capture_output=True,
                              env={**self.env, **(env or {})}, cwd=self.cwd, timeout=timeout,
                              check=False)
        err = proc.stderr.decode(errors="replace")
        assert "Traceback" not in err, err
        if expect is not None:
            assert proc.returncode == expect, (proc.returncode, err)
        return proc

    def popen(self, *args: str | Path, env: dict[str, str] | None = None,
              **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(*args), env={**self.env, **(env or {})},
                                cwd=self.cwd, **kwargs)  # type: ignore[call-overload]


def error_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [line for line in proc.stderr.decode().splitlines() if line.startswith("focal:")]


def best_lag_correlation(ref: np.ndarray, rec: np.ndarray) -> tuple[int, float]:
    """(lag, normalised correlation) of `ref` found inside the longer `rec` (FFT search)."""
    n = len(ref) + len(rec)
    size = 1 << (n - 1).bit_length()
    spec = np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size))
    corr = np.fft.irfft(spec, size)[: len(rec) - len(ref) + 1]
    lag = int(np.argmax(corr))
    seg = rec[lag : lag + len(ref)]
    denom = float(np.linalg.norm(seg) * np.linalg.norm(ref)) or 1.0
    return lag, float(np.dot(seg, ref) / denom)
