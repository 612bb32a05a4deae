"""File outputs: FIFOs and devices told apart from files, and files that appear atomically.

A file output is written to a hidden temporary file beside the destination, flushed, fsync'ed
and renamed into place only when the writer succeeded; on any exception, Ctrl-C or SIGTERM
the temporary file is removed, so a failed run leaves nothing behind. Existing files are
refused unless `force` (OutputProblem, exit 6); a FIFO or character device (``/dev/null``, a
named pipe) is written into in place, never replaced. Used by the commands, the corpus
runners and the API alike. Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from focalcli.errors import OutputProblem, describe_os_error

#: the name standing for stdin / stdout
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
