"""One training run, as a function: config file -> last checkpoint.

The command line is ``focal train`` (``focalcli/cli/train_cmd.py``: its checks, progress on
stderr, Ctrl-C to a checkpoint), which calls :func:`train`; ``python -m focalcli.train`` runs
that same command.
"""

from __future__ import annotations

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
