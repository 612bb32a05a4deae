"""The CLI's name for :mod:`focalcli.errors` (the package's exception root), kept for importers
outside this package that still use the old path (``focalcli/corpus/ray_pool.py``)."""

from focalcli.errors import (
    EXIT_STATUS_TABLE,
    BrokenPipe,
    ExitCode,
    FocalError,
    InputProblem,
    ModelProblem,
    OutputProblem,
    StreamDamaged,
    StreamInvalid,
    UsageProblem,
    batch_exit_code,
    describe_os_error,
)

__all__ = [
    "EXIT_STATUS_TABLE",
    "BrokenPipe",
    "ExitCode",
    "FocalError",
    "InputProblem",
    "ModelProblem",
    "OutputProblem",
    "StreamDamaged",
    "StreamInvalid",
    "UsageProblem",
    "batch_exit_code",
    "describe_os_error",
]
