"""The package's one exception root and the exit codes of `focal`.

Every problem a user can cause or meet (a missing file, a text file named `.wav`, a damaged
`.fcs`, an output that already exists, a model that cannot be loaded) is raised as a
:class:`FocalError` subclass carrying the file it concerns and its exit code, by the library
(``focalcli.pipeline``, ``focalcli.api``) as by the commands. `focalcli.cli.run` is the one
place that turns it into exactly one line on stderr, ``focal: error: <file>: <problem>``, and
that exit code. Standard library only: every layer may import it.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit statuses of `focal`, as documented in `focal --help` and focal(1)."""

    OK = 0
    FAILURE = 1  # generic failure; in a batch: at least one file failed
    USAGE = 2  # bad command line (option parsing, impossible combinations)
    INPUT = 3  # input missing, unreadable, or not audio focal can read
    CONCEALED = 4  # damaged .fcs decoded with concealment (without --strict)
    INVALID_STREAM = 5  # .fcs unusable: bad magic, unknown version, model mismatch, --strict damage
    OUTPUT = 6  # output exists (no --force) or cannot be written
    MODEL = 7  # model not found or cannot be loaded
    BROKEN_PIPE = 141  # stdout reader went away (128 + SIGPIPE); nothing is printed
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


#: Rows of the exit-status table shown in `focal --help` and the man page.
EXIT_STATUS_TABLE: tuple[tuple[int, str], ...] = (
    (ExitCode.OK, "success"),
    (ExitCode.FAILURE, "failure; with several inputs: at least one file failed"),
    (ExitCode.USAGE, "usage error (unknown option, bad value, missing argument)"),
    (ExitCode.INPUT, "input missing, unreadable or not supported audio"),
    (ExitCode.CONCEALED, "damaged .fcs decoded with concealment (not with --strict)"),
    (ExitCode.INVALID_STREAM, "invalid .fcs: bad magic, unknown version, model mismatch, "
     "damage with --strict"),
    (ExitCode.OUTPUT, "output exists (use --force) or cannot be written"),
    (ExitCode.MODEL, "model not found or cannot be loaded"),
    (ExitCode.INTERRUPTED, "interrupted (Ctrl-C); partial outputs are removed"),
    (ExitCode.BROKEN_PIPE, "stdout closed early (e.g. piped into head); quiet"),
)


class FocalError(Exception):
    """A problem to report as one line, ``<path>: <message>``, ending with `exit_code`."""

    exit_code: int = ExitCode.FAILURE

    def __init__(self, message: str, path: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        if exit_code is not None:
            self.exit_code = exit_code

    def with_path(self, path: str) -> FocalError:
        """Return self with `path` filled in if it was not known where it was raised."""
        if self.path is None:
            self.path = path
        return self

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class UsageProblem(FocalError):
    """Options that parse but do not fit together (e.g. `--raw` without `--rate`)."""

    exit_code = ExitCode.USAGE


class InputProblem(FocalError):
    """An input that is missing, unreadable or not audio focal can read."""

    exit_code = ExitCode.INPUT


class StreamDamaged(FocalError):
    """A `.fcs` that was decoded, with missing parts concealed (a warning-level outcome)."""

    exit_code = ExitCode.CONCEALED


class StreamInvalid(FocalError):
    """A `.fcs` that cannot be used: not .fcs, unknown version, other model, strict damage."""

    exit_code = ExitCode.INVALID_STREAM


class OutputProblem(FocalError):
    """An output that exists (without --force) or cannot be written."""

    exit_code = ExitCode.OUTPUT


class ModelProblem(FocalError):
    """A model that cannot be found, downloaded or loaded."""

    exit_code = ExitCode.MODEL


class BrokenPipe(FocalError):
    """The reader of stdout went away; ends `focal` quietly with status 141."""

    exit_code = ExitCode.BROKEN_PIPE

    def __init__(self) -> None:
        super().__init__("broken pipe")


def describe_os_error(err: OSError) -> str:
    """One-line text for an OSError without the repeated file name (`No such file`)."""
    return err.strerror or str(err)


def batch_exit_code(codes: list[int]) -> int:
    """Exit status for a run over several inputs, from the per-file statuses.

    One input: its own status. Several: 1 if any file failed, else 4 if any was concealed, else 0.
    """
    if len(codes) == 1:
        return codes[0]
    failed = [c for c in codes if c not in (ExitCode.OK, ExitCode.CONCEALED)]
    if failed:
        return ExitCode.FAILURE
    if ExitCode.CONCEALED in codes:
        return ExitCode.CONCEALED
    return ExitCode.OK
