"""Command line of the trainer.

    python -m focalcli.train CONFIG [--run NAME] [--steps N] [--fresh]
    python -m focalcli.train export RUN_OR_CHECKPOINT OUT_DIR [--name NAME] [--card-extra MD]
        [--calibrate-level] [--half]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from focalcli.train.config import load_config
from focalcli.train.loop import Trainer, default_run_dir, write_run_config


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train(config_path: str | Path, run: str | None = None, steps: int | None = None,
          fresh: bool = False, run_dir: str | Path | None = None,
          threads: int | None = None) -> Path:
    """Train (or resume) the run described by ``config_path``; returns the last checkpoint.

    Args:
        config_path: training config JSON.
        run: run name (default: the config's ``name``); checkpoints in
            ``~/.cache/focal/train/<run>/`` unless ``run_dir`` is given.
        steps: stop after this many total steps (default: the config's ``steps``; the learning
            rate schedule always follows the config's ``steps``).
        fresh: ignore an existing checkpoint of the run and start again.
        threads: torch threads (default: the config's ``threads``).
    """
    cfg = load_config(config_path)
    torch.set_num_threads(threads or cfg.threads)
    torch.set_flush_denormal(True)  # denormals (e.g. in Adam's second moments) are ~10x slower
    rdir = Path(run_dir) if run_dir else default_run_dir(run or cfg.name)
    write_run_config(cfg, rdir)
    trainer = Trainer(cfg, rdir, log=_log)
    if not fresh:
        trainer.try_resume()
    params = trainer.codec.num_parameters()
    _log(f"run {rdir}: {sum(params.values()):,} params {params}; "
         f"data {trainer.sampler.total_seconds / 3600:.2f} h in {len(trainer.sampler.signals)} "
         f"files; step {trainer.step}/{steps or cfg.steps}")
    trainer.fit(steps)
    used, entropy = trainer.code_stats()
    _log(f"done at step {trainer.step}; codes used {used}, entropy {entropy:.2f} bits")
    return rdir / "last.pt"


def main(argv: list[str] | None = None) -> int:
    """``python -m focalcli.train`` / ``focal train``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        p = argparse.ArgumentParser(prog="focalcli.train export")
        p.add_argument("checkpoint", help="checkpoint file or run folder (uses last.pt)")
        p.add_argument("out_dir")
        p.add_argument("--name", default="focal-small")
        p.add_argument("--card-extra", default=None, help="markdown file appended to the card")
        p.add_argument("--calibrate-level", action="store_true",
                       help="fold a gain into the decoder head so output level = input level")
        p.add_argument("--half", action="store_true",
                       help="store float16 weights (half the size; decoding stays float32)")
        a = p.parse_args(argv[1:])
        from focalcli.train.export import export_model

        out = export_model(a.checkpoint, a.out_dir, a.name, a.card_extra, a.calibrate_level,
                           a.half)
        _log(f"exported {out}")
        return 0
    p = argparse.ArgumentParser(prog="focalcli.train", description="Train the focal codec.")
    p.add_argument("config", help="training config JSON (see focalcli/train/configs/)")
    p.add_argument("--run", default=None, help="run name (default: config name)")
    p.add_argument("--run-dir", default=None, help="checkpoint folder (overrides --run)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--fresh", action="store_true", help="do not resume an existing run")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    train(a.config, a.run, a.steps, a.fresh, a.run_dir, a.threads)
    return 0
