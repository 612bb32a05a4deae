"""The options every command shares, folded into one frozen :class:`~focalcli.settings.Settings`.

Typer resolves each option from the command line first, then from its environment variable
(`FOCAL_MODEL`, `FOCAL_THREADS`, `FOCAL_JOBS`), then from its default; :func:`make_settings`
folds the result, plus the global `-q`/`-v` given before the command name, into a
:class:`Settings` that the command passes down. The environment itself is read by
:func:`focalcli.settings.read_environment` only.
"""

from __future__ import annotations

import sys
from typing import Any

from focalcli.settings import (
    ENV_DEBUG,
    ENV_JOBS,
    ENV_MODEL,
    ENV_PRECISION,
    ENV_THREADS,
    Settings,
    read_environment,
)

__all__ = ["ENV_DEBUG", "ENV_JOBS", "ENV_MODEL", "ENV_PRECISION", "ENV_THREADS", "Settings",
           "debug_enabled", "make_settings", "stderr_is_terminal"]

def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def debug_enabled() -> bool:
    """FOCAL_DEBUG=1 shows tracebacks for internal errors."""
    return read_environment().debug


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
