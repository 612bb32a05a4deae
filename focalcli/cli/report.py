"""Human text on stderr: notes, warnings, one-line errors and (on a terminal) progress bars.

stdout is never touched here; it carries data only. Progress bars use rich and are drawn only
when `Settings.progress` is true (stderr is a terminal and not `-q`); rich is imported lazily.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from focalcli.cli.settings import Settings
from focalcli.errors import FocalError

PROG = "focal"


def print_error(err: FocalError | str) -> None:
    """Write ``focal: error: <file>: <problem>`` to stderr; usable before settings exist."""
    _write_stderr(f"{PROG}: error: {err}")


def _write_stderr(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Progress:
    """A progress bar over `total` units (files or seconds); does nothing when disabled."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: float = 1.0) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def set_total(self, total: float | None) -> None:
        """Set (or clear, for an unknown length) the amount the bar goes up to."""
        if self._bar is not None:
            self._bar.update(self._task, total=total)


class Reporter:
    """Writes what a command has to say to a person, according to `settings`.

    Thread-safe: batch workers call it concurrently.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._console: Any = None  # the rich console of a running progress bar

    def _emit(self, line: str) -> None:
        with self._lock:
            if self._console is not None:
                self._console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                _write_stderr(line)

    def note(self, message: str) -> None:
        """A normal message (suppressed by -q)."""
        if not self.settings.quiet:
            self._emit(f"{PROG}: {message}")

    def detail(self, message: str) -> None:
        """A -v message."""
        if self.settings.verbose >= 1:
            self._emit(f"{PROG}: {message}")

    def warn(self, err: FocalError | str) -> None:
        """A warning (suppressed by -q), e.g. a damaged .fcs that was concealed."""
        if not self.settings.quiet:
            self._emit(f"{PROG}: warning: {err}")

    def error(self, err: FocalError | str) -> None:
        """An error line; always printed."""
        self._emit(f"{PROG}: error: {err}")

    @contextmanager
    def progress(self, total: float | None, description: str,
                 unit: str = "files") -> Iterator[Progress]:
        """A progress bar over `total` `unit`s (None: not known yet), drawn only when allowed."""
        if not self.settings.progress:
            yield Progress(None, None)
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(stderr=True)
        count: Any = MofNCompleteColumn() if unit == "files" else TaskProgressColumn()
        bar = RichProgress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            count,
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        with bar:
            task = bar.add_task(description, total=total)
            with self._lock:
                self._console = console
            try:
                yield Progress(bar, task)
            finally:
                with self._lock:
                    self._console = None
