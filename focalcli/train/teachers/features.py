"""Precomputed teacher targets: one Whisper feature frame per 20 ms of every training file.

The trainer's crops come from silence-trimmed files (``data.trim_silence``), so the targets are
computed on exactly those trimmed signals; frame t of a file is centred on its sample 320 t.

Store layout (a folder, e.g. ``~/.cache/focal/teacher-feats/whisper-tiny.en-L4``):

- ``SPLIT.safetensors``: ``feats`` (total_frames, D) float16, all files concatenated;
  ``offsets`` (files + 1,) int64, file i's frames are ``feats[offsets[i]:offsets[i + 1]]``;
  ``mean`` and ``std`` (D,) float32 over the split's frames (for standardised targets).
- ``SPLIT.json``: the teacher, layer, trim threshold, and per file its path and sample count
  (the trainer checks these against its own file list).

    python -m focalcli.train.teachers.features --teacher ~/.cache/focal/teachers/whisper-tiny.en \
        --out ~/.cache/focal/teacher-feats/whisper-tiny.en-L4 --split train --split dev
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SAMPLES_PER_FRAME = 320


@dataclass
class TeacherStore:
    """Targets of one split: ``feats`` (frames, D) float16, ``offsets`` (files + 1,),
    ``mean``/``std`` (D,), and ``meta`` (the JSON side file)."""

    feats: Tensor
    offsets: Tensor
    mean: Tensor
    std: Tensor
    meta: dict

    def file_frames(self, i: int) -> Tensor:
        return self.feats[int(self.offsets[i]) : int(self.offsets[i + 1])]

    @property
    def dim(self) -> int:
        return int(self.feats.shape[1])


def load_store(folder: str | Path, split: str) -> TeacherStore:
    """Read ``folder/SPLIT.safetensors`` + ``.json``; ValueError naming the file if malformed."""
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    path = folder / f"{split}.safetensors"
    meta_path = folder / f"{split}.json"
    try:
        tensors = load_file(str(path))
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read teacher targets ({exc})") from exc
    for key in ("feats", "offsets", "mean", "std"):
        if key not in tensors:
            raise ValueError(f"{path}: no tensor {key!r}")
    feats, offsets = tensors["feats"], tensors["offsets"]
    files = meta.get("files")
    if (feats.dim() != 2 or offsets.dim() != 1 or not isinstance(files, list)
            or len(offsets) != len(files) + 1 or int(offsets[-1]) != feats.shape[0]
            or bool((offsets[1:] < offsets[:-1]).any())):
        raise ValueError(f"{path}: feats, offsets and {meta_path.name} do not agree")
    return TeacherStore(feats, offsets, tensors["mean"].float(), tensors["std"].float(), meta)


def compute_store(teacher_dir: str | Path, out: str | Path, split: str, manifest: str,
                  layer: int = -1, trim_db: float = -45.0, log=print) -> Path:
    """Encode every file of ``split`` (trimmed as the trainer trims) and write the store."""
    from safetensors.torch import save_file

    from focalcli.train.data import DataConfig, list_files, read_audio, trim_silence
    from focalcli.train.teachers.whisper import load_whisper_encoder, sig_to_teacher_feats

    encoder = load_whisper_encoder(teacher_dir)
    pairs = list_files(DataConfig(manifest=manifest, split=split))
    if not pairs:
        raise ValueError(f"{manifest}: no files in split {split!r}")
    chunks: list[Tensor] = []
    files = []
    t0 = time.process_time()
    for k, (path, _) in enumerate(pairs):
        sig = trim_silence(read_audio(path), trim_db)
        feats = sig_to_teacher_feats(encoder, torch.from_numpy(np.ascontiguousarray(sig)), layer)
        chunks.append(feats.half())
        files.append({"path": str(path), "samples": len(sig)})
        if (k + 1) % 100 == 0:
            log(f"{split}: {k + 1}/{len(pairs)} files, cpu {time.process_time() - t0:.0f} s")
    lengths = torch.tensor([0] + [c.shape[0] for c in chunks], dtype=torch.int64)
    all_feats = torch.cat(chunks)
    f32 = all_feats.float()
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    tensors = {"feats": all_feats.contiguous(), "offsets": lengths.cumsum(0),
               "mean": f32.mean(0), "std": f32.std(0).clamp_min(1e-4)}
    meta = {"teacher": str(teacher_dir), "layer": layer, "trim_db": trim_db,
            "manifest": manifest, "split": split, "samples_per_frame": SAMPLES_PER_FRAME,
            "files": files}
    path = out / f"{split}.safetensors"
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    (out / f"{split}.json.tmp").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)
    os.replace(out / f"{split}.json.tmp", out / f"{split}.json")
    log(f"{split}: {len(files)} files, {all_feats.shape[0]} frames x {all_feats.shape[1]} -> "
        f"{path} (cpu {time.process_time() - t0:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="precompute Whisper teacher targets at 50 Hz")
    ap.add_argument("--teacher", default="~/.cache/focal/teachers/whisper-tiny.en",
                    help="CTranslate2 Whisper folder (scripts/get-teachers.sh)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--split", action="append", default=None, help="manifest split(s)")
    ap.add_argument("--manifest", default="/work/shared/data/speech/manifest.tsv")
    ap.add_argument("--layer", type=int, default=-1,
                    help="encoder output: -1 the normed last layer (default), 0.. a layer")
    ap.add_argument("--trim-db", type=float, default=-45.0, help="as data.trim_db")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    teacher = Path(args.teacher).expanduser()
    if not (teacher / "model.bin").is_file():
        print(f"{teacher}: no model.bin (run scripts/get-teachers.sh)", file=sys.stderr)
        return 2
    try:
        for split in args.split or ["train", "dev"]:
            compute_store(teacher, args.out, split, args.manifest, args.layer, args.trim_db)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
