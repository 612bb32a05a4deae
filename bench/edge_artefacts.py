"""Periodic edge artefacts in decoded speech (issue 13, point 4).

For a period of P samples (a token, a chunk) and every phase, cut the signal into frames of P
samples starting at that phase and count the frames whose first sample-to-sample step
``|x[n] - x[n-1]|`` exceeds the 99th percentile of the steps inside the frame. Without an
edge artefact about 1 % of frames do so at any phase; a codec that leaves a discontinuity at
each frame edge shows a phase where most frames do. The worst phase is reported, for the
decoded files and for their references (the control: the worst of P phases of chance).
Silent frames (RMS below -50 dBFS) are left out.

    python bench/edge_artefacts.py --ref-dir DEV --dec-dir DECODED [--periods 320,640,1280]

Prints one row per folder and period: the worst phase, the share of frames with an edge step
above their 99th percentile there, and the median share over all phases. Exit codes: 0 done,
1 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def edge_share(sig: np.ndarray, period: int, silence_db: float = -50.0
               ) -> tuple[np.ndarray, int]:
    """sig (N,) float -> (share of frames per phase (period,), frames counted per phase).

    For phase p the frames are ``sig[p + k * period : p + (k + 1) * period]``; a frame counts
    when its edge step (the step into its first sample) is above its own 99th percentile.
    """
    steps = np.abs(np.diff(sig, prepend=sig[:1]))
    shares = np.zeros(period)
    counted = 0
    for phase in range(period):
        n = (len(sig) - phase) // period
        if n < 2:
            continue
        frames = sig[phase : phase + n * period].reshape(n, period)
        frame_steps = steps[phase : phase + n * period].reshape(n, period)
        loud = np.sqrt((frames**2).mean(1)) > 10 ** (silence_db / 20)
        if phase == 0:
            counted = int(loud[1:].sum())
        if not loud[1:].any():
            continue
        p99 = np.percentile(frame_steps[1:, 1:], 99, axis=1)
        above = frame_steps[1:, 0] > p99
        shares[phase] = above[loud[1:]].mean()
    return shares, counted


def folder_shares(folder: Path, period: int, limit: int) -> tuple[np.ndarray, int]:
    import soundfile as sf

    files = sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac"))[: limit or None]
    if not files:
        raise ValueError(f"{folder}: no .wav or .flac files")
    total = np.zeros(period)
    weight = 0
    for path in files:
        sig, _ = sf.read(path, dtype="float64", always_2d=True)
        shares, counted = edge_share(sig.mean(1), period)
        total += shares * counted
        weight += counted
    return total / max(weight, 1), weight


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-dir", type=Path, required=True)
    ap.add_argument("--dec-dir", type=Path, action="append", required=True,
                    help="decoded folder (repeatable)")
    ap.add_argument("--periods", default="320,640,1280", help="samples, comma-separated")
    ap.add_argument("--limit", type=int, default=0, help="files per folder (0: all)")
    args = ap.parse_args(argv)
    try:
        periods = [int(p) for p in args.periods.split(",")]
        print("| folder | period (ms at 16 kHz) | worst phase | frames above p99 there | "
              "median over phases | frames |")
        print("|---|---|---|---|---|---|")
        for folder in [args.ref_dir, *args.dec_dir]:
            for period in periods:
                shares, n = folder_shares(folder, period, args.limit)
                worst = int(shares.argmax())
                print(f"| {folder.name} | {period} ({period / 16:.0f}) | {worst} | "
                      f"{100 * shares[worst]:.1f} % | {100 * np.median(shares):.1f} % | {n} |")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
