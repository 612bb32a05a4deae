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

import errno
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from focalcli.errors import BrokenPipe, InputProblem, OutputProblem, describe_os_error

STDIO = "-"

_umask_lock = threading.Lock()
_umask: int | None = None


def file_mode() -> int:
    """Permissions a normally created file would get (0666 minus the umask)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = os.umask(0)
            os.umask(_umask)
        return 0o666 & ~_umask


def is_stream_output(path: str | Path) -> bool:
    """True if `path` is a FIFO or a character device (e.g. /dev/null): an output that is
    written into in place, as stdout is, and never replaced by a file.

    OutputProblem for a block device or a socket, which focal does not write to.
    """
    if str(path) == STDIO:
        return False
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    if stat.S_ISBLK(mode):
        raise OutputProblem("is a block device; focal writes files, FIFOs and character "
                            "devices only", str(path))
    if stat.S_ISSOCK(mode):
        raise OutputProblem("is a socket; focal writes files, FIFOs and character devices "
                            "only", str(path))
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def check_writable(path: Path, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse early what `atomic_file` would refuse late (before any work is done).

    A FIFO or character device passes without `force`: it is written into, not replaced.
    """
    for inp in inputs:
        try:
            if path.resolve() == inp.resolve():
                raise OutputProblem("output would overwrite its own input", str(path))
        except OSError:
            pass
    if is_stream_output(path):
        return
    if path.is_dir():
        raise OutputProblem("is a directory", str(path))
    if not force and os.path.lexists(path):
        raise OutputProblem("already exists (use --force to overwrite)", str(path))


_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


@contextmanager
def atomic_path(path: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside `path` that is renamed to `path` if the block succeeds.

    The block writes the temporary file (any way it likes); then it is fsync'ed and renamed.
    Parent folders are created. Without `force` an existing `path` is never replaced, even if
    it appears while we write (the final step is a hard link, which cannot clobber). On any
    exception (including KeyboardInterrupt and SystemExit) the temporary file is removed, and so
    are the parent folders it created if they are still empty. A FIFO or device is never
    replaced (write it with :func:`open_output`); here it is refused.
    """
    if is_stream_output(path):
        raise OutputProblem("is a FIFO or device: it is written into, never replaced by a file",
                            str(path))
    check_writable(path, force)
    folder = path.parent
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        for attempt in range(2):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                                dir=folder)
                break
            except FileNotFoundError:  # a parallel job removed the folder it had just made
                if attempt:
                    raise
        os.close(fd)
    except OSError as err:
        _remove_empty(created)
        raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(path)) from err
    tmp = Path(tmp_name)
    done = False
    try:
        try:
            yield tmp
        except OSError as err:
            if err.errno in _OUTPUT_ERRNOS:
                raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(path)) from err
            raise
        try:
            _fsync_file(tmp)
            os.chmod(tmp, file_mode())
            _publish(tmp, path, force)
        except OSError as err:
            raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(path)) from err
        done = True
        _fsync_dir(folder)
    finally:
        if not done:
            try:
                tmp.unlink()
            except OSError:
                pass
            _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this output created (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def atomic_file(path: Path, force: bool) -> Iterator[BinaryIO]:
    """Like :func:`atomic_path`, yielding the temporary file opened for binary writing."""
    with atomic_path(path, force) as tmp, open(tmp, "wb") as fh:
        yield fh


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, force: bool) -> None:
    if force:
        if is_stream_output(path):  # it appeared while we wrote: never replace it
            raise OutputProblem("became a FIFO or device while writing; not replaced", str(path))
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError as err:
        raise OutputProblem("already exists (use --force to overwrite)", str(path)) from err
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(path):  # file systems without hard links: check, then rename
            raise OutputProblem("already exists (use --force to overwrite)", str(path)) from err
        os.replace(tmp, path)
        return
    tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


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
