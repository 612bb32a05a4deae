"""A corpus run: plan, skip what an earlier run finished, code the rest, record every file.

The driver (this process) alone writes the manifest; the files are coded by a pool: threads
here (:class:`LocalPool`, ``-j N``) or Ray actors (:class:`focalcli.corpus.ray_pool.RayPool`).
Exit status as for the local batch (:func:`focalcli.errors.batch_exit_code`), counting the
files done before as successes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from focalcli.corpus.manifest import ManifestRow, ManifestWriter, read_manifest
from focalcli.corpus.plan import Shard, remove_stale_parts, shard_jobs
from focalcli.corpus.work import (
    FORMAT_NPY,
    EncodeSpec,
    FileEncoder,
    FileResult,
    is_model_failure,
    model_problem,
)
from focalcli.errors import (
    ExitCode,
    FocalError,
    OutputProblem,
    UsageProblem,
    batch_exit_code,
    describe_os_error,
)
from focalcli.pipeline.jobs import Cancelled, Job


class Bar(Protocol):
    """A progress bar: ``advance(files)``."""

    def advance(self, amount: float = 1.0) -> None: ...


class Reporter(Protocol):
    """Where the runner reports (the CLI's :class:`focalcli.cli.report.Reporter` is one): lines
    at the levels -q/-v select, and a progress bar over the files."""

    def note(self, message: str) -> None: ...

    def detail(self, message: str) -> None: ...

    def warn(self, err: FocalError | str) -> None: ...

    def error(self, err: FocalError | str) -> None: ...

    def progress(self, total: float | None, description: str,
                 unit: str = "files") -> AbstractContextManager[Bar]: ...


class Pool(Protocol):
    """Codes jobs somewhere and yields their results in completion order."""

    #: where the files are coded, for people ("2 threads", "4 Ray workers at auto")
    description: str

    def results(self, jobs: list[Job]) -> Iterator[FileResult]: ...

    def close(self) -> None: ...


class LocalPool:
    """`workers` threads in this process sharing one loaded model (like ``-j N``)."""

    def __init__(self, spec: EncodeSpec, workers: int) -> None:
        self.encoder = FileEncoder(spec)
        self.workers = max(1, workers)
        self.description = f"{self.workers} thread{'s' if self.workers > 1 else ''}"
        self._cancel = threading.Event()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def results(self, jobs: list[Job]) -> Iterator[FileResult]:
        if self.workers == 1:
            for job in jobs:
                yield self.encoder.encode(job, self._check)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            queue = list(reversed(jobs))
            running: set[Future[FileResult]] = set()
            while queue or running:
                while queue and len(running) < self.workers:
                    running.add(pool.submit(self.encoder.encode, queue.pop(), self._check))
                done, running = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            self._cancel.set()  # interrupted or closed early: running files stop and clean up
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._cancel.set()


def manifest_path(out_dir: Path, shard: Shard) -> Path:
    return out_dir / f"manifest{shard.suffix}.tsv"


def token_table_path(out_dir: Path, shard: Shard) -> Path:
    return out_dir / f"tokens{shard.suffix}.parquet"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _settings_path(out_dir: Path, shard: Shard) -> Path:
    return out_dir / f"settings{shard.suffix}.json"


def _settings(spec: EncodeSpec) -> dict[str, Any]:
    """What decides a run's output bytes; a resume must use the same (threads and force do not)."""
    return {"model": spec.model, "precision": spec.precision or "fp32", "format": spec.fmt,
            "multichannel": spec.multichannel, "packet_ms": spec.packet_ms}


def _same_settings(out_dir: Path, shard: Shard, spec: EncodeSpec) -> bool:
    """True when this run's settings equal those the earlier run recorded beside its manifest."""
    import json

    try:
        recorded = json.loads(_settings_path(out_dir, shard).read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == _settings(spec))


def _write_settings(out_dir: Path, shard: Shard, spec: EncodeSpec) -> None:
    import json

    path = _settings_path(out_dir, shard)
    part = path.with_name(path.name + ".part")
    try:
        part.write_text(json.dumps(_settings(spec), sort_keys=True) + "\n")
        os.replace(part, path)
    except OSError as err:
        raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(path)) from err


def split_done(planned: list[Job], previous: dict[str, ManifestRow]
               ) -> tuple[list[ManifestRow], list[Job]]:
    """(rows of files an earlier run finished, jobs still to do).

    Done: the manifest says ``ok`` for this input and output, and the output is there with the
    size it recorded. Everything else (missing, failed, interrupted, changed) is coded again.
    """
    done: list[ManifestRow] = []
    todo: list[Job] = []
    for job in planned:
        row = previous.get(job.src)
        if (job.problem is None and row is not None and row.ok and row.output == job.dst
                and _size(job.dst) == row.bytes):
            done.append(row)
        else:
            todo.append(job)
    return done, todo


def run_corpus(jobs: list[Job], out_dir: Path, spec: EncodeSpec, shard: Shard, pool: Pool,
               reporter: Reporter) -> int:
    """Run `pool` over this shard's files not yet done; return the run's exit status."""
    if spec.fmt == FORMAT_NPY:
        from focalcli.corpus.tokens import pyarrow_or_exit

        pyarrow_or_exit()  # say it before any work, not after
    planned = shard_jobs(jobs, shard)
    path = manifest_path(out_dir, shard)
    previous = read_manifest(path)
    if previous and not _same_settings(out_dir, shard, spec):
        if not spec.force:
            raise UsageProblem("an earlier run here coded with other settings (model, "
                               "precision, packets, channels or format); use another "
                               "--output-dir, or --force to code every file again",
                               str(out_dir))
        previous = {}
    done, todo = split_done(planned, previous)
    for job in todo:
        if job.problem is None:
            remove_stale_parts(job.dst)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputProblem(f"cannot create: {describe_os_error(err)}", str(out_dir)) from err
    if done:
        reporter.note(f"{len(done)} of {len(planned)} files done by an earlier run "
                      f"({path.name}); coding the other {len(todo)}")
    if todo:
        reporter.detail(f"coding {len(todo)} files on {pool.description}")
    _write_settings(out_dir, shard, spec)
    writer = ManifestWriter(path, done)
    codes: list[int] = [ExitCode.OK] * len(done)
    identity: dict[str, Any] | None = None
    try:
        with reporter.progress(float(len(todo)), "encoding", "files") as bar:
            for result in pool.results(todo):
                if is_model_failure(result):
                    raise model_problem(result)
                if spec.fmt == FORMAT_NPY and identity is None and result.model_identity:
                    from focalcli.corpus.tokens import write_model_json

                    identity = result.model_identity
                    write_model_json(out_dir, identity)
                writer.append(result.row)
                codes.append(result.exit_code)
                for warning in result.warnings:
                    reporter.warn(warning)
                if result.row.ok:
                    reporter.detail(f"{result.row.input} -> {result.row.output}: "
                                    f"{result.row.duration_s:.2f} s, {result.row.tokens} tokens "
                                    f"({result.row.worker})")
                else:
                    reporter.error(result.row.error)
                bar.advance(1)
    finally:
        pool.close()
        rows = writer.finish()  # also when interrupted: what finished is recorded
    failed = sum(not row.ok for row in rows)
    if failed:
        reporter.note(f"{len(rows) - failed} of {len(rows)} files done, {failed} failed "
                      f"(see {path})")
    if spec.fmt == FORMAT_NPY:
        _write_table(out_dir, shard, rows, reporter)
    return batch_exit_code(codes) if codes else ExitCode.OK


def _write_table(out_dir: Path, shard: Shard, rows: list[ManifestRow], reporter: Reporter) -> None:
    from focalcli.corpus.tokens import read_model_json, write_token_table

    identity = read_model_json(out_dir)
    if identity is None:
        reporter.note("no file was coded: no token table written")
        return
    table = token_table_path(out_dir, shard)
    count = write_token_table(table, out_dir, rows, identity)
    reporter.detail(f"{table}: {count} files")
