"""How far a hybrid model's decoded envelope is under-dispersed, and what compensating it does.

A regression decoder shrinks what it cannot predict toward the mean. For each FARGAN rung (2 and
4 groups) this measures, on every third file of the cached training split, the ratio of the real
standardised cepstra's standard deviation to the decoded ones' (per value), prints it, and with
``--out`` writes the first ``--limit`` dev files (in the eval tool's sorted order) decoded through
FARGAN with the decoded cepstra's deviations from their mean scaled by ratio ** alpha, one folder
``rG-aALPHA`` per rung and alpha, for ``eval_codec.py --dec-dir``. Pitch and voicing are left
as decoded. This is the probe path (no warm-up or fade of the product), for comparing alphas.

    python -m focalcli.train.vocoder_probe cache          # the cached features it reads
    python bench/envelope_variance.py --model focal-small-hybrid-2 [--out DIR --alphas 0,1
        --limit 12 --ref-dir DEV]

Exit codes: 0 done, 1 bad input or a missing prerequisite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="focal-small-hybrid-2",
                    help="a hybrid model of focal-small-hybrid-2's shapes")
    ap.add_argument("--out", type=Path, default=None, help="write compensated dev decodes here")
    ap.add_argument("--alphas", default="0,1", help="comma-separated exponents of the ratio")
    ap.add_argument("--limit", type=int, default=12, help="dev files to decode")
    ap.add_argument("--ref-dir", type=Path, default=Path.home() / ".cache/focal/dev",
                    help="the eval tool's reference folder (sets which files come first)")
    args = ap.parse_args(argv)
    try:
        alphas = [float(a) for a in args.alphas.split(",") if a]
    except ValueError:
        ap.error(f"--alphas: expected numbers like 0,0.5,1, got {args.alphas!r}")

    import soundfile as sf
    import torch
    from torch import nn

    from focalcli.train.data import read_audio
    from focalcli.train.feature_ladder_probe import (
        TOKEN_FEATURES,
        HybridLadderCodec,
        init_from_model,
        with_v6_codes,
    )
    from focalcli.train.vocoder_probe import (
        ProbeError,
        feats_to_wav,
        load_fargan,
        load_split,
        manifest,
    )

    torch.set_num_threads(1)
    probe = HybridLadderCodec(256, 384, delay_tokens=2, pitch_bits=6, corr_bits=1)
    try:
        init_from_model(probe, args.model)
        train = load_split("train")
        dev = load_split("dev") if args.out else None
        fargan = load_fargan() if args.out else None
    except ProbeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    probe.eval()
    D, bits = probe.delay_tokens, probe.bsq.dim
    ceps = torch.zeros(2, 20, dtype=torch.bool)
    ceps[:, :18] = True
    ceps = ceps.reshape(-1)
    stats = {}
    with torch.no_grad():
        rows, offsets = with_v6_codes(train), train["offsets"]
        for g in probe.rungs:
            dec, real = [], []
            for i in range(0, len(offsets) - 1, 3):
                x = rows[offsets[i] : offsets[i + 1]][None]
                codes = probe.bsq.lats_to_codes(probe.encode(x))
                dec.append(probe.decode(codes[..., : g * bits])[0, D:].double())
                real.append(((x[0, : x.shape[1] - D, :TOKEN_FEATURES] - probe.mean)
                             / probe.std).double())
            y, t = torch.cat(dec), torch.cat(real)
            ratio = (t.std(0) / y.std(0)).float()
            stats[g] = (y.mean(0).float(), ratio)
            per_coef = ratio.reshape(2, 20)[:, :18].mean(0)
            print(f"{g} groups: real / decoded cepstral std, mean {float(per_coef.mean()):.3f}; "
                  "c0..c17 " + " ".join(f"{float(v):.2f}" for v in per_coef))
        if args.out is None or dev is None:
            return 0
        first = set(sorted(p.stem for p in args.ref_dir.iterdir())[: args.limit])
        drows = with_v6_codes(dev)
        spans = {str(n): (int(a), int(b)) for n, a, b in
                 zip(dev["names"], dev["offsets"][:-1], dev["offsets"][1:], strict=True)}
        for path in [p for p in manifest("dev") if p.stem in first]:
            sig = read_audio(path)
            a, b = spans[f"{path.parent.name}/{path.name}"]
            x = nn.functional.pad(drows[a:b][None], (0, 0, 0, D))
            codes = probe.bsq.lats_to_codes(probe.encode(x))
            for g in probe.rungs:
                y0 = probe.decode(codes[..., : g * bits])[:, D:]
                mean, ratio = stats[g]
                for alpha in alphas:
                    y = torch.where(ceps, mean + (y0 - mean) * ratio**alpha, y0)
                    wav = feats_to_wav(fargan, probe.to_features(y)[0].numpy(), len(sig))
                    folder = args.out / f"r{g}-a{alpha:g}"
                    folder.mkdir(parents=True, exist_ok=True)
                    sf.write(folder / f"{path.stem}.wav", wav.astype(np.float32), 16000,
                             subtype="PCM_16")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
