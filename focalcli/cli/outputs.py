"""Where results go (files that appear atomically, or stdout), and binary stdin.

A file output is written to a hidden temporary file in the destination folder, flushed,
fsync'ed and renamed into place only when the command succeeded; on any exception, Ctrl-C or
SIGTERM the temporary file is removed, so a failed run leaves nothing behind. Existing files
are refused unless `force`. A FIFO or character device (``/dev/null``, a named pipe) is
written into in place, like stdout, and never replaced, with or without `force`. stdout is data
only; a reader that goes away (``| head``) raises :class:`BrokenPipe`, which ends focal quietly;
a full disk or device raises :class:`OutputProblem` ("No space left on device").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from focalcli.errors import BrokenPipe, InputProblem, OutputProblem, describe_os_error
from focalcli.pipeline.outputs import (
    STDIO,
    atomic_file,
    atomic_path,
    check_writable,
    file_mode,
    is_stream_output,
)

__all__ = ["STDIO", "StdoutWriter", "atomic_file", "atomic_path", "check_writable", "file_mode",
           "is_stream_output", "open_output", "refuse_terminal_stdout", "silence_stdout",
           "stdin_binary"]

class StdoutWriter:
    """Binary stdout (or another stream written in place, e.g. a FIFO) whose errors are ours:
    a vanished reader is :class:`BrokenPipe`, a full disk or device an :class:`OutputProblem`.

    Args:
        stream: the binary stream; default: stdout.
        name: how errors name it.
    """

    def __init__(self, stream: BinaryIO | None = None, name: str = "stdout") -> None:
        self._out: BinaryIO = sys.stdout.buffer if stream is None else stream
        self.name = name

    def write(self, data: bytes) -> int:
        """Write all of `data` (a pipe may take only part of it per call)."""
        view = memoryview(data)
        try:
            while view:
                view = view[self._out.write(view) or 0 :]
        except BrokenPipeError as err:
            raise BrokenPipe() from err
        except OSError as err:
            raise OutputProblem(f"cannot write: {describe_os_error(err)}", self.name) from err
        return len(data)

    def flush(self) -> None:
        try:
            self._out.flush()
        except BrokenPipeError as err:
            raise BrokenPipe() from err
        except OSError as err:
            raise OutputProblem(f"cannot write: {describe_os_error(err)}", self.name) from err


def refuse_terminal_stdout(what: str) -> None:
    """Refuse to write binary `what` to a terminal (like gzip and zstd do)."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        raise OutputProblem(f"refusing to write {what} to a terminal; redirect it or name a file",
                            "stdout")


@contextmanager
def open_output(target: str | Path, force: bool, what: str) -> Iterator[BinaryIO]:
    """A binary output: `-` is stdout (data only), a FIFO or character device is written
    into in place, anything else is an atomic file."""
    if str(target) == STDIO:
        refuse_terminal_stdout(what)
        writer = StdoutWriter()
        yield writer  # type: ignore[misc]
        writer.flush()
    elif is_stream_output(target):
        try:
            device: BinaryIO = open(target, "wb", buffering=0)  # noqa: SIM115 - closed below
        except OSError as err:
            raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(target)) from err
        with device:
            writer = StdoutWriter(device, str(target))
            yield writer  # type: ignore[misc]
            writer.flush()
    else:
        with atomic_file(Path(target), force) as fh:
            yield fh


def stdin_binary(what: str) -> BinaryIO:
    """Binary stdin; refuses a terminal, where nobody types `what`."""
    try:
        tty = sys.stdin.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        raise InputProblem(f"refusing to read {what} from a terminal; pipe it in or name a file",
                           "stdin")
    return sys.stdin.buffer


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
