"""Break per-file eval scores down by corpus and by voice pitch, side by side for several runs.

    python bench/eval_breakdown.py DEV RUN.perfile.csv [RUN.perfile.csv ...]
        [--metrics pesq_wb,stoi,visqol,wer_vs_ref_asr] [--f0-split-hz 165]

DEV: the folder of reference files the runs were scored against. Each CSV is a per-file table
written by ``../shared/eval/eval_codec.py`` (``OUT/NAME.perfile.csv``). Files are grouped as
LibriSpeech (name ``speaker-chapter-utterance``) or MS-SNSD (anything else), and as low or high
voices by the median f0 of their voiced frames (the package's pitch tracker). Prints one row per
run and group with the mean of each metric over files, so a gap to an anchor shows where it comes
from. (A mean of per-file WERs is not the summary table's dWER, which pools the words.)
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from focalcli.model.pitch import sig_to_pitch

HOP = 320
LIBRISPEECH = re.compile(r"^\d+-\d+-\d+$")


def median_f0_hz(path: Path) -> float:
    """Median f0 in Hz over the voiced frames of a 16 kHz file (0 if none is voiced)."""
    sig, _ = sf.read(str(path), dtype="float32", always_2d=True)
    sig = sig.mean(axis=1)
    sig = sig[: len(sig) // HOP * HOP]
    log_f0, voiced = sig_to_pitch(torch.from_numpy(sig)[None])
    f0 = np.exp(log_f0[0].numpy())[voiced[0].numpy()]
    return float(np.median(f0)) if f0.size else 0.0


def groups_of(keys: list[str], dev: Path, split_hz: float) -> dict[str, list[str]]:
    """Group name -> file keys: all, by corpus, by voice pitch."""
    refs = {p.stem: p for p in dev.iterdir() if p.suffix in (".flac", ".wav")}
    f0 = {k: median_f0_hz(refs[k]) for k in keys}
    return {
        "all": keys,
        "LibriSpeech": [k for k in keys if LIBRISPEECH.match(k)],
        "MS-SNSD": [k for k in keys if not LIBRISPEECH.match(k)],
        f"f0 < {split_hz:g} Hz": [k for k in keys if f0[k] < split_hz],
        f"f0 >= {split_hz:g} Hz": [k for k in keys if f0[k] >= split_hz],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dev", type=Path)
    ap.add_argument("csvs", type=Path, nargs="+")
    ap.add_argument("--metrics", default="pesq_wb,stoi,visqol,wer_vs_ref_asr")
    ap.add_argument("--f0-split-hz", type=float, default=165.0)
    a = ap.parse_args()
    metrics = a.metrics.split(",")
    runs = {}
    for path in a.csvs:
        with open(path, newline="") as f:
            runs[path.name.removesuffix(".perfile.csv")] = {r["key"]: r for r in csv.DictReader(f)}
    keys = sorted(set.intersection(*(set(r) for r in runs.values())))
    groups = groups_of(keys, a.dev, a.f0_split_hz)
    width = max(len(n) for n in runs)
    header = "  ".join(f"{m:>14}" for m in metrics)
    print(f"{'group':<16} {'files':>5}  {'run':<{width}}  {header}")
    for group, members in groups.items():
        for name, rows in runs.items():
            means = []
            for m in metrics:
                vals = [float(rows[k][m]) for k in members if rows[k].get(m) not in (None, "")]
                means.append(f"{np.mean(vals):14.3f}" if vals else f"{'-':>14}")
            print(f"{group:<16} {len(members):>5}  {name:<{width}}  " + "  ".join(means))


if __name__ == "__main__":
    main()
