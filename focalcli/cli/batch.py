"""Many inputs: which output each input gets, and running them (maybe in parallel).

Forms of the positional arguments, for `encode` and `decode` alike:

* ``IN``            one input, output beside it with the new extension (`-` in: `-` out)
* ``IN OUT``        one input, one output (an existing folder OUT receives the default name)
* ``IN... -d DIR``  files and folders; a folder's tree of matching files is mirrored under DIR

A job that fails is reported on one line and the others continue; the exit status then says
that something failed (see :func:`focalcli.errors.batch_exit_code`).
"""

from __future__ import annotations

import functools
import os
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from focalcli.cli.outputs import STDIO
from focalcli.cli.report import Progress, Reporter
from focalcli.cli.settings import debug_enabled
from focalcli.errors import (
    BrokenPipe,
    ExitCode,
    FocalError,
    ModelProblem,
    OutputProblem,
    UsageProblem,
    batch_exit_code,
)
from focalcli.pipeline.jobs import Cancelled, Job


def plan_jobs(args: list[str], output_dir: str | None, *, out_ext: str,
              folder_exts: Iterable[str], default_stdout: bool = True) -> list[Job]:
    """Jobs for the positional arguments (see the module docstring).

    `out_ext` is the output extension with its dot; `folder_exts` are the (lower-case,
    dotted) extensions taken from folders; `default_stdout`: `-` in writes `-` out.
    """
    if output_dir is None:
        if len(args) > 2:
            raise UsageProblem(f"{len(args)} files given: several inputs need --output-dir DIR "
                               "(two arguments mean IN OUT)")
        src = args[0]
        if src != STDIO and os.path.isdir(src):
            raise UsageProblem("is a directory; use --output-dir DIR to process a folder", src)
        if len(args) == 2:
            dst = args[1]
            if dst != STDIO and os.path.isdir(dst):
                dst = os.path.join(dst, _renamed(os.path.basename(src) if src != STDIO
                                                 else "stdin", out_ext))
        elif src == STDIO:
            dst = STDIO if default_stdout else "stdin" + out_ext
        else:
            dst = _renamed(src, out_ext)
        return [Job(src, dst)]

    exts = {e.lower() for e in folder_exts}
    root = Path(output_dir)
    skip = _real(root)
    jobs: list[Job] = []
    for arg in args:
        if arg == STDIO:
            jobs.append(Job(arg, "", UsageProblem("stdin ('-') cannot be used with --output-dir")))
        elif os.path.isdir(arg):
            found = list(_walk(Path(arg), exts, skip))
            special = [p for p in found if not p.is_file()]  # FIFOs, devices: never waited on
            found = [p for p in found if p.is_file()]
            jobs += [Job(str(p), "", FocalError(
                f"{_kind(p)}, not a regular file: skipped in a folder (name it to read it)",
                exit_code=ExitCode.INPUT)) for p in special]
            if not found and not special:
                jobs.append(Job(arg, "", FocalError(
                    f"no files with extension {', '.join(sorted(exts))} in this folder",
                    exit_code=ExitCode.INPUT)))
            for path in found:
                rel = path.relative_to(arg)
                jobs.append(Job(str(path), str(root / _renamed(str(rel), out_ext))))
        else:
            jobs.append(Job(arg, str(root / _renamed(os.path.basename(arg), out_ext))))
    return _mark_collisions(jobs)


def _kind(path: Path) -> str:
    """'a FIFO', 'a device', ... for a path that is not a regular file."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _renamed(path: str, ext: str) -> str:
    return os.path.splitext(path)[0] + ext


def _real(path: Path) -> str | None:
    try:
        return str(path.resolve())
    except OSError:
        return None


def _walk(folder: Path, exts: set[str], skip: str | None) -> Iterable[Path]:
    """Matching files under `folder`, sorted, skipping hidden entries and the output folder."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and _real(Path(dirpath, d)) != skip)
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                yield Path(dirpath, name)


def _mark_collisions(jobs: list[Job]) -> list[Job]:
    seen: dict[str, str] = {}
    out = []
    for job in jobs:
        if job.problem is None:
            key = os.path.normcase(os.path.abspath(job.dst))
            if key in seen:
                job = Job(job.src, job.dst, OutputProblem(
                    f"would be written to {job.dst} too, like {seen[key]}; skipped"))
            else:
                seen[key] = job.src
        out.append(job)
    return out


class JobContext:
    """What a running job may use: the progress of its own audio, and cancellation."""

    def __init__(self, cancel: threading.Event, progress: Progress | None) -> None:
        self._cancel = cancel
        self._progress = progress

    def check(self) -> None:
        """Stop (raise) if the run was interrupted."""
        if self._cancel.is_set():
            raise Cancelled()

    def set_total(self, seconds: float | None) -> None:
        """Say how many seconds of audio this job has (None: unknown, e.g. a pipe)."""
        if self._progress is not None:
            self._progress.set_total(seconds)

    def advance(self, seconds: float) -> None:
        """Report `seconds` more of audio done (drawn only for a single-file run)."""
        if self._progress is not None:
            self._progress.advance(seconds)


#: a job's work: returns its exit status (0 ok, 4 concealed) or raises FocalError
Work = Callable[[Job, JobContext], int]


def run_jobs(jobs: list[Job], work: Work, reporter: Reporter, jobs_in_parallel: int,
             verb: str) -> int:
    """Run every job, report failures one line each, return the exit status of the run.

    With one job, or -j 1, jobs run one after the other in the calling thread (so Ctrl-C
    interrupts even a blocking read of stdin); otherwise in a pool of threads sharing the
    models. A single job draws a progress bar over seconds of audio (see
    `JobContext.set_total`); many jobs draw one over files. Ctrl-C stops the work (partial
    outputs are removed by each job's own cleanup) and re-raises KeyboardInterrupt; a broken
    stdout re-raises BrokenPipe.
    """
    cancel = threading.Event()
    codes: list[int] = []
    single = len(jobs) == 1
    total = None if single else float(len(jobs))
    with reporter.progress(total, verb, "seconds" if single else "files") as bar:
        ctx = JobContext(cancel, bar if single else None)

        def one(job: Job) -> int:
            if job.problem is not None:
                raise job.problem.with_path(job.src)
            ctx.check()
            return work(job, ctx)

        def outcome(job: Job, result: Callable[[], int]) -> int:
            try:
                return result()
            except (BrokenPipe, Cancelled, ModelProblem):
                raise  # a model that cannot load fails every file: stop the run, say it once
            except FocalError as err:
                reporter.error(err.with_path(job.src))
                return err.exit_code
            except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
                reporter.error(f"{job.src}: internal error: {type(err).__name__}: {err}")
                if debug_enabled():
                    traceback.print_exception(err)
                return ExitCode.FAILURE
            finally:
                if not single:
                    bar.advance(1)

        if single or jobs_in_parallel <= 1:
            for job in jobs:
                codes.append(outcome(job, functools.partial(one, job)))
        else:
            codes = _run_pool(jobs, one, outcome, cancel, jobs_in_parallel)
    failed = sum(c not in (ExitCode.OK, ExitCode.CONCEALED) for c in codes)
    if len(jobs) > 1 and failed:
        reporter.note(f"{len(jobs) - failed} of {len(jobs)} files done, {failed} failed")
    return batch_exit_code(codes)


def _run_pool(jobs: list[Job], one: Callable[[Job], int],
              outcome: Callable[[Job, Callable[[], int]], int], cancel: threading.Event,
              workers: int) -> list[int]:
    """Run `one` over the jobs in `workers` threads; results in completion order."""
    codes: list[int] = []
    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)))
    try:
        running: dict[Future[int], Job] = {}
        queue = list(reversed(jobs))
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop()
                running[pool.submit(one, job)] = job
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                codes.append(outcome(running.pop(fut), fut.result))
    except BaseException:
        cancel.set()  # running jobs stop at their next block and clean up
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return codes
