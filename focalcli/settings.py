"""Run settings, and the one place focal reads its environment variables.

:class:`Settings` holds what the options every command shares asked for (the command line
folds its options into one with ``focalcli.cli.settings.make_settings``; the library takes one
too). :func:`read_environment` is the package's one reader of ``os.environ``: it returns a
frozen :class:`Environment`, read at call time so a changed variable (a test's monkeypatch) is
seen. Every layer may import this module (tests/test_layering.py). Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: Environment variables focal reads (documented in focal(1)).
ENV_MODEL = "FOCAL_MODEL"
ENV_THREADS = "FOCAL_THREADS"
ENV_JOBS = "FOCAL_JOBS"
ENV_PRECISION = "FOCAL_PRECISION"
ENV_DEBUG = "FOCAL_DEBUG"
ENV_TRAIN_DIR = "FOCAL_TRAIN_DIR"
ENV_CACHE = "FOCAL_CACHE"
#: the Hugging Face hub's own switch, honoured before any network access
ENV_HUB_OFFLINE = "HF_HUB_OFFLINE"


@dataclass(frozen=True)
class Settings:
    """What the shared options asked for.

    quiet: no progress, no notes, no warnings (errors still print).
    verbose: 0 normal, 1 details per file, 2 also tracebacks for internal errors.
    force: overwrite existing outputs.
    model: model source for `load_codec` (None: the bundled default).
    threads: torch intra-op threads in total (None: the engine's default).
    jobs: files processed in parallel in a batch (>= 1).
    precision: compute precision of loaded models (fp32, bf16, mixed, int8; None: fp32).
    progress: draw progress bars (stderr is a terminal and not quiet).
    """

    quiet: bool = False
    verbose: int = 0
    force: bool = False
    model: str | None = None
    threads: int | None = None
    jobs: int = 1
    progress: bool = False
    precision: str | None = None


def _home_cache() -> Path:
    """~/.cache/focal, where focal keeps what it may rebuild."""
    return Path.home() / ".cache" / "focal"


def _home_train() -> Path:
    return _home_cache() / "train"


@dataclass(frozen=True)
class Environment:
    """The FOCAL_* (and HF_HUB_OFFLINE) variables as focal understands them.

    threads: FOCAL_THREADS, torch threads (default 1, at least 1). debug: FOCAL_DEBUG set and
    not "0" (tracebacks for internal errors). hub_offline: HF_HUB_OFFLINE is 1/true/yes/on.
    FOCAL_MODEL, FOCAL_JOBS and FOCAL_PRECISION are option defaults the command line resolves
    (Typer ``envvar``); `model` mirrors FOCAL_MODEL for library callers (None: unset or empty).
    train_dir: FOCAL_TRAIN_DIR, the folder of training runs (default ~/.cache/focal/train).
    cache_dir: FOCAL_CACHE, the training tools' cache of data, features and probe runs
    (default ~/.cache/focal). An empty variable counts as unset.
    """

    threads: int = 1
    debug: bool = False
    hub_offline: bool = False
    model: str | None = None
    train_dir: Path = field(default_factory=_home_train)
    cache_dir: Path = field(default_factory=_home_cache)


def read_environment() -> Environment:
    """The current environment as an :class:`Environment` (read now, not cached)."""
    env = os.environ
    return Environment(
        threads=max(1, int(env.get(ENV_THREADS, "1") or "1")),
        debug=env.get(ENV_DEBUG, "") not in ("", "0"),
        hub_offline=env.get(ENV_HUB_OFFLINE, "").lower() in ("1", "true", "yes", "on"),
        model=env.get(ENV_MODEL) or None,
        train_dir=Path(env.get(ENV_TRAIN_DIR) or _home_train()),
        cache_dir=Path(env.get(ENV_CACHE) or _home_cache()),
    )
