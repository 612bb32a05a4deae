"""Helpers for the corpus tests: a synthesized corpus and the real `focal` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def write_corpus(root: Path, count: int, seconds: float = 2.0, seed: int = 0) -> list[Path]:
    """`count` speech-like files (voiced harmonics with a moving pitch, noise, pauses) in a
    two-level tree, mixed rates, formats and channel counts; returns them sorted."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        rate = (16000, 22050, 44100)[i % 3]
        ext = (".wav", ".flac")[i % 2]
        channels = 2 if i % 4 == 3 else 1
        n = int(rate * seconds * (0.75 + 0.5 * rng.random()))
        t = np.arange(n) / rate
        f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * 0.7 * t)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
        gate = (np.sin(2 * np.pi * 1.3 * t + rng.random() * 6) > -0.3).astype(np.float64)
        sig = 0.3 * voiced * gate + 0.01 * rng.standard_normal(n)
        data = np.repeat(sig[:, None], channels, axis=1).astype(np.float32)
        path = root / f"spk{i % 3}" / f"utt{i:03d}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, rate, subtype="PCM_16")
        paths.append(path)
    return sorted(paths)


def focal(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
          expect: int | None = None, timeout: float = 180,
          unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run `python -m focalcli ARGS` with the bundled model; check no traceback (and the
    exit status if `expect`). `unset`: environment variables the child must not inherit."""
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", FOCAL_THREADS="1", OMP_NUM_THREADS="1")
    for name in ("FOCAL_MODEL", "FOCAL_JOBS", *unset):
        full_env.pop(name, None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "focalcli", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, timeout=timeout, check=False)
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    if expect is not None:
        assert proc.returncode == expect, (proc.returncode, err)
    return proc


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.decode().splitlines() if line.startswith("focal: error")]


def tree_bytes(root: Path, ext: str) -> dict[str, bytes]:
    """{path relative to root: bytes} of every `ext` file under root."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob(f"*{ext}"))}
