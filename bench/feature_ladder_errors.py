"""How well each rung of a feature-ladder probe run carries FARGAN's features (issues 13/14).

    OMP_NUM_THREADS=1 python bench/feature_ladder_errors.py --run fl-p6 [--run fl-pc ...]

Reads ``~/.cache/focal/runs/RUN/last.pt`` and the dev split's cached features
(``python -m focalcli.train.vocoder_probe cache``), codes every dev file at rungs 1, 2 and 4 and
prints, per rung: R^2 of the decoded features against the originals for the level (c0), the
low (c1-c3), mid (c4-c9) and high (c10-c17) cepstrum, the pitch and the pitch correlation; and
in voiced frames (original correlation > 0.1) the median pitch-period error and the share of
frames more than 5 % off (FARGAN's excitation follows the period directly).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch import nn

from focalcli.model.fargan import pitch_feature_to_period
from focalcli.train.feature_ladder_probe import (
    TOKEN_FEATURES,
    load_run,
    rung_groups,
    split_rows,
)
from focalcli.train.vocoder_probe import NB_FEATURES, ProbeError, load_split

GROUPS = {"c0": [0], "c1-3": [1, 2, 3], "c4-9": list(range(4, 10)),
          "c10-17": list(range(10, 18)), "pitch": [18], "corr": [19]}
VOICED_CORR = 0.1


def r2(pred: np.ndarray, true: np.ndarray, cols: list[int]) -> float:
    """Frames (N, 20) -> R^2 over ``cols``, pooled."""
    err = ((pred[:, cols] - true[:, cols]) ** 2).sum()
    var = ((true[:, cols] - true[:, cols].mean(0)) ** 2).sum()
    return float(1 - err / var)


@torch.no_grad()
def rung_frames(run: str) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """-> (original frames (N, 20), {groups: decoded frames (N, 20)}) over the dev split."""
    torch.set_num_threads(1)
    codec = load_run(run)
    dev = load_split("dev")
    feats = split_rows(codec, dev)
    offsets = dev["offsets"]
    D, bits = codec.delay_tokens, codec.bsq.dim
    originals, decoded = [], {g: [] for g in rung_groups(codec)}
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        x = feats[a:b][None]
        codes = codec.bsq.lats_to_codes(codec.encode(nn.functional.pad(x, (0, 0, 0, D))))
        originals.append(x[0, :, :TOKEN_FEATURES].reshape(-1, NB_FEATURES).numpy())
        for g in rung_groups(codec):
            y = codec.decode(codes[..., : g * bits])[:, D:]
            decoded[g].append(codec.to_features(y)[0].numpy())
    return np.concatenate(originals), {g: np.concatenate(v) for g, v in decoded.items()}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="probe run name (repeatable)")
    args = ap.parse_args(argv)
    cols = " | ".join(f"R2 {k}" for k in GROUPS)
    print(f"| run | rung | {cols} | voiced period error median % | voiced > 5 % off |")
    print("|---|---|" + "---|" * (len(GROUPS) + 2))
    for run in args.run:
        try:
            true, by_rung = rung_frames(run)
        except ProbeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        voiced = true[:, 19] > VOICED_CORR
        p_true = pitch_feature_to_period(torch.from_numpy(true[voiced, 18])).double()
        for g, pred in by_rung.items():
            p_pred = pitch_feature_to_period(torch.from_numpy(pred[voiced, 18])).double()
            rel = ((p_pred - p_true).abs() / p_true).numpy()
            vals = " | ".join(f"{r2(pred, true, c):.2f}" for c in GROUPS.values())
            print(f"| {run} | {g} | {vals} | {100 * np.median(rel):.1f} | "
                  f"{100 * (rel > 0.05).mean():.1f} % |", flush=True)
    print(f"({int(voiced.sum())} voiced of {len(true)} dev frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
