"""One frozen settings object for the options every command shares and their FOCAL_* variables.

Typer resolves each option from the command line first, then from its environment variable
(`FOCAL_MODEL`, `FOCAL_THREADS`, `FOCAL_JOBS`), then from its default; :func:`make_settings`
folds the result, plus the global `-q`/`-v` given before the command name, into a
:class:`Settings` that the command passes down. Nothing else reads the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

#: Environment variables focal reads (documented in focal(1)).
ENV_MODEL = "FOCAL_MODEL"
ENV_THREADS = "FOCAL_THREADS"
ENV_JOBS = "FOCAL_JOBS"
ENV_PRECISION = "FOCAL_PRECISION"
ENV_DEBUG = "FOCAL_DEBUG"


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


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def debug_enabled() -> bool:
    """FOCAL_DEBUG=1 shows tracebacks for internal errors."""
    return os.environ.get(ENV_DEBUG, "") not in ("", "0")


def make_settings(
    ctx_obj: Any,
    *,
    quiet: bool = False,
    verbose: int = 0,
    force: bool = False,
    model: str | None = None,
    threads: int | None = None,
    jobs: int = 1,
    precision: str | None = None,
) -> Settings:
    """Settings from a command's options merged with the global ones (`focal -q CMD`).

    `ctx_obj` is the Typer context object filled by the app callback (a dict or None).
    """
    glob = ctx_obj if isinstance(ctx_obj, dict) else {}
    quiet = quiet or bool(glob.get("quiet", False))
    verbose = max(verbose, int(glob.get("verbose", 0)))
    if quiet:
        verbose = 0
    return Settings(
        quiet=quiet,
        verbose=verbose,
        force=force,
        model=model or None,
        threads=threads,
        jobs=max(1, jobs),
        progress=(not quiet) and stderr_is_terminal(),
        precision=precision,
    )
