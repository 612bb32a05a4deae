"""STOI with one delay per codec, beside STOI with a delay per file (issue 13 diagnostics).

``../shared/eval/eval_codec.py`` aligns each decoded file to its reference at the peak of their
waveform cross-correlation. A vocoder that rebuilds speech from features (FARGAN, Codec2) does
not keep the input's phase, so that peak can land tens of milliseconds off the codec's real,
constant delay, and STOI, which compares 384 ms stretches of band envelopes frame by frame,
falls with the misalignment. This script scores the same files twice: at each file's
cross-correlation peak (as the eval tool does) and at one delay for all of the codec's
files (one delay for the codec, as a listener would experience it): the delay whose mean STOI
over the files is highest, searched in 4 ms steps over +-60 ms, then 1 ms steps around the best.
The search scores the first ``--search-files`` files (20); the same search applies to every
codec, anchors included.

    ../shared/eval/.venv-eval/bin/python bench/stoi_constant_lag.py \
        --ref-dir DEV --dec-dir DECODED [--dec-dir ...] [--limit N] [--lag-ms MS]

(run with the eval environment's Python: it needs ``pystoi`` and ``soundfile``). Decoded files
are matched to references by stem and resampled to 16 kHz first. ``--lag-ms`` fixes the delay
instead. Prints one row per folder (named by its parent when it is called ``dec``): files,
the constant lag, the per-file lags' spread, STOI at each file's own lag and at the constant
lag. Exit codes: 0 done, 1 bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

SR = 16000
MAX_LAG_MS = 250.0  # the eval tool's default search range


def xcorr_lag(ref: np.ndarray, deg: np.ndarray, max_lag: int) -> int:
    """Lag (samples) maximising sum ref[n] deg[n + lag] over [-max_lag, max_lag]."""
    nfft = 1 << math.ceil(math.log2(len(ref) + len(deg)))
    cc = np.fft.irfft(np.conj(np.fft.rfft(ref, nfft)) * np.fft.rfft(deg, nfft), nfft)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    return int(lags[int(np.argmax(np.concatenate([cc[: max_lag + 1], cc[-max_lag:]])))])


def shifted(ref: np.ndarray, deg: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """deg advanced by ``lag`` samples (delayed for a negative lag), both cut to one length."""
    deg = deg[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), deg])
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n]


def read_mono_16k(path: Path) -> np.ndarray:
    import soundfile as sf

    sig, sr = sf.read(str(path), always_2d=True)
    sig = sig.mean(axis=1)
    if sr != SR:
        from scipy.signal import resample_poly

        g = math.gcd(sr, SR)
        sig = resample_poly(sig, SR // g, sr // g)
    return np.asarray(sig, dtype=np.float64)


def pairs(ref_dir: Path, dec_dir: Path, limit: int) -> list[tuple[Path, Path]]:
    refs = {p.stem: p for p in sorted(ref_dir.iterdir()) if p.suffix in (".wav", ".flac")}
    out = [(refs[p.stem], p) for p in sorted(dec_dir.iterdir())
           if p.suffix in (".wav", ".flac") and p.stem in refs]
    return out[: limit or None]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-dir", type=Path, required=True)
    ap.add_argument("--dec-dir", type=Path, action="append", required=True)
    ap.add_argument("--limit", type=int, default=0, help="only the first N files of each folder")
    ap.add_argument("--search-files", type=int, default=20,
                    help="files the delay search scores (default %(default)s)")
    ap.add_argument("--lag-ms", type=float, default=None, help="a fixed delay, not the search")
    args = ap.parse_args(argv)
    try:
        from pystoi import stoi
    except ImportError:
        print("error: pystoi missing: run with ../shared/eval/.venv-eval/bin/python",
              file=sys.stderr)
        return 1
    print("| decoded | files | constant lag ms | lag spread (p90 - p10) ms | STOI, lag per file "
          "| STOI, one lag |")
    print("|---|---|---|---|---|---|")
    for dec_dir in args.dec_dir:
        if not dec_dir.is_dir() or not args.ref_dir.is_dir():
            print(f"error: {dec_dir if not dec_dir.is_dir() else args.ref_dir}: not a folder",
                  file=sys.stderr)
            return 1
        files = pairs(args.ref_dir, dec_dir, args.limit)
        if not files:
            print(f"error: {dec_dir}: no decoded file matches a reference", file=sys.stderr)
            return 1
        sigs = [(read_mono_16k(r), read_mono_16k(d)) for r, d in files]
        max_lag = int(MAX_LAG_MS * SR / 1000)
        lags = np.array([xcorr_lag(r, d, max_lag) for r, d in sigs])

        def mean_stoi(k: int, sigs: list[tuple[np.ndarray, np.ndarray]] = sigs) -> float:
            return float(np.mean([stoi(*shifted(r, d, k), SR) for r, d in sigs]))

        def search_stoi(k: int, sigs: list[tuple[np.ndarray, np.ndarray]] = sigs) -> float:
            return mean_stoi(k, sigs[: args.search_files])

        if args.lag_ms is not None:
            lag = int(round(args.lag_ms * SR / 1000))
        else:
            ms = SR // 1000
            lag = max(range(-60 * ms, 61 * ms, 4 * ms), key=search_stoi)
            lag = max(range(lag - 3 * ms, lag + 4 * ms, ms), key=search_stoi)
        own = np.mean([stoi(*shifted(r, d, k), SR) for (r, d), k in zip(sigs, lags,
                                                                          strict=True)])
        one = mean_stoi(lag)
        spread = np.percentile(lags, 90) - np.percentile(lags, 10)
        label = dec_dir.parent.name if dec_dir.name == "dec" else dec_dir.name
        print(f"| {label} | {len(files)} | {1000 * lag / SR:.1f} | "
              f"{1000 * spread / SR:.1f} | {own:.3f} | {one:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
