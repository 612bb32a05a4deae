"""Decode the dev split with a checkpoint or model folder, then score it with the shared eval.

    python bench/train_eval.py SOURCE OUT_DIR --ref-dir DEV [--name N] [--metrics pesq_wb,stoi]

DEV: a folder with the dev split's reference files (``../shared/eval/README.md`` shows the
two-line copy); every audio file in it is decoded and scored, so any other folder of 16 kHz
speech works too (for example a sample of the train split, to see over-fitting). The eval tool
is taken from ``../shared`` beside the checkout.

SOURCE: a training checkpoint (.pt), a run folder (last.pt), or a model folder / bundled name.
Decoding goes through the streaming engine (``encode_signal`` / ``decode_tokens``), exactly what
``focal encode`` + ``focal decode`` produce. Decoded WAVs go to OUT_DIR/<name>/dec/.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
MANIFEST = SHARED / "data/speech/manifest.tsv"
EVAL = SHARED / "eval"


def load_any(source: str) -> Any:
    """FocalCodec in eval mode from a checkpoint, run folder or model source."""
    p = Path(source)
    if p.suffix == ".pt" or (p.is_dir() and (p / "last.pt").is_file()):
        from focalcli.model.codec import FocalCodec
        from focalcli.train.export import load_checkpoint

        state = load_checkpoint(p)
        codec = FocalCodec(state["config"]["model"])
        codec.load_state_dict(state["model"])
        print(f"checkpoint step {state['step']}, cpu {state['cpu_seconds'] / 60:.1f} min")
        return codec.eval()
    from focalcli.model.loading import load_codec

    return load_codec(source)


def dev_files(limit: int | None) -> list[Path]:
    """The dev split's files from the shared manifest, the first ``limit`` of them if given."""
    with open(MANIFEST, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "dev"]
    files = [MANIFEST.parent / r["path"] for r in rows]
    return files[:limit] if limit else files


def ref_files(ref_dir: Path, limit: int | None) -> list[Path]:
    """The audio files of ``ref_dir`` in name order, the first ``limit`` of them if given."""
    files = sorted(p for p in ref_dir.iterdir() if p.suffix in (".flac", ".wav"))
    return files[:limit] if limit else files


def decode_refs(codec: Any, ref_dir: Path, out: Path, limit: int | None) -> float:
    """Encode+decode every reference file to ``out/<stem>.wav``; returns CPU s per audio s."""
    from focalcli.engine.offline import decode_tokens, encode_signal

    out.mkdir(parents=True, exist_ok=True)
    cpu = 0.0
    dur = 0.0
    for path in ref_files(ref_dir, limit):
        sig, sr = sf.read(str(path), dtype="float32")
        assert sr == codec.sample_rate_input
        t = time.process_time()
        toks = encode_signal(codec, sig[None])
        y = decode_tokens(codec, toks, num_samples=len(sig))[0]
        cpu += time.process_time() - t
        dur += len(sig) / sr
        sf.write(str(out / (path.stem + ".wav")), y, codec.sample_rate_output)
    return cpu / dur


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out_dir")
    ap.add_argument("--name", default="focal")
    ap.add_argument("--metrics", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--ref-dir", required=True, help="folder of the dev split's references")
    a = ap.parse_args()
    torch.set_num_threads(1)
    codec = load_any(a.source)
    out = Path(a.out_dir)
    dec = out / a.name / "dec"
    with torch.inference_mode():
        rtf = decode_refs(codec, Path(a.ref_dir), dec, a.limit)
    print(f"decoded to {dec}: {rtf:.3f} CPU s per audio s (one thread, offline engine)")
    cmd = [str(EVAL / ".venv-eval/bin/python"), str(EVAL / "eval_codec.py"), "--ref-dir",
           a.ref_dir, "--dec-dir", str(dec), "--name", a.name, "--kbps",
           f"{codec.bitrate_kbps:g}", "--out-dir", str(out), "--summary-md",
           str(out / "table.md"), "--jobs", str(a.jobs)]
    if a.metrics:
        cmd += ["--metrics", a.metrics]
    if a.limit:
        cmd += ["--limit", str(a.limit)]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
