"""A real local Ray cluster (two CPUs, two workers): a worker killed mid-run loses nothing,
an interrupted run resumes, and every output equals the local `focal encode` bytes.

Skipped only when ray is not installed (CI installs the `ray` extra).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus_testutil import focal, tree_bytes, write_corpus

from focalcli.cli.batch import plan_jobs
from focalcli.cli.report import Reporter
from focalcli.cli.settings import Settings
from focalcli.corpus.manifest import read_manifest
from focalcli.corpus.plan import Shard
from focalcli.corpus.work import EncodeSpec, FileResult
from focalcli.pipeline.jobs import Job

# the test cluster listens on 127.0.0.1 only (read by ray when imported)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = before or "disabled"  # a throwaway cluster on loopback
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20,
             log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        if before is None:
            del os.environ["RAY_AUTH_MODE"]


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Ten 4.5-7.5 s files (long enough that a file is in flight when a worker is killed) and
    their `.fcs` from the plain local batch."""
    root = tmp_path_factory.mktemp("ray") / "corpus"
    write_corpus(root, 10, seconds=6.0, seed=3)
    ref = root.parent / "local"
    focal("encode", root, "-d", ref, cwd=root.parent, expect=0)
    return root, tree_bytes(ref, ".fcs")


class _Driver:
    """Wraps a RayPool: kills process `kill_pid` (a worker, then coding its next file) after
    `kill_after` results, and stops the run (as Ctrl-C or a killed driver would) after
    `stop_after` results."""

    def __init__(self, pool: Any, kill_pid: int | None = None, kill_after: int | None = None,
                 stop_after: int | None = None) -> None:
        self.pool = pool
        self.description = pool.description
        self.kill_pid = kill_pid
        self.kill_after = kill_after
        self.stop_after = stop_after
        self.seen: list[FileResult] = []
        self.killed_pid: int | None = None

    def results(self, jobs: list[Job]) -> Iterator[FileResult]:
        for result in self.pool.results(jobs):
            self.seen.append(result)
            yield result
            if self.kill_pid is not None and len(self.seen) == self.kill_after:
                os.kill(self.kill_pid, signal.SIGKILL)
                self.killed_pid = self.kill_pid
            if self.stop_after is not None and len(self.seen) == self.stop_after:
                raise KeyboardInterrupt

    def close(self) -> None:
        pass  # the pool is reused by the resumed run (its actors hold a loaded model)


def test_killed_worker_and_interrupted_run_lose_nothing(
        cluster: Any, long_corpus: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    from focalcli.corpus.ray_pool import RayPool
    from focalcli.corpus.runner import run_corpus

    corpus, local = long_corpus
    out = tmp_path / "out"
    jobs = plan_jobs([str(corpus)], str(out), out_ext=".fcs", folder_exts=(".wav", ".flac"))
    spec = EncodeSpec(threads=1)
    pool = RayPool(spec, None, 2, threads=1)
    reporter = Reporter(Settings(quiet=True))
    try:
        pids = pool.actor_pids()
        assert pool.workers == 2 and len(set(pids)) == 2
        first = _Driver(pool, kill_pid=pids[0], kill_after=1, stop_after=6)
        with pytest.raises(KeyboardInterrupt):
            run_corpus(jobs, out, spec, Shard(), first, reporter)
        assert first.killed_pid is not None
        assert pool.worker_deaths == 1 and pool.retried_files >= 1  # its files went elsewhere
        assert first.killed_pid not in pool.actor_pids()  # and a new worker took its place
        assert pool.in_flight() == [0, 0]  # the interrupted run's queued files were dropped
        recorded = read_manifest(out / "manifest.tsv")
        assert len(recorded) == 6 and all(r.ok for r in recorded.values())

        second = _Driver(pool)
        assert run_corpus(jobs, out, spec, Shard(), second, reporter) == 0
        assert len(second.seen) == 4  # only what the first run had not recorded
    finally:
        pool.close()
    assert tree_bytes(out, ".fcs") == local  # every file, the local batch's bytes
    rows = read_manifest(out / "manifest.tsv")
    assert len(rows) == 10 and all(r.ok and r.bytes > 0 and r.tokens > 0 for r in rows.values())
    assert not list(out.rglob("*.part"))


def test_cli_joins_a_running_cluster(cluster: Any, long_corpus: tuple[Path, dict[str, bytes]],
                                     tmp_path: Path) -> None:
    """`focal encode --ray ADDRESS` in its own process, as on a multi-node cluster's head.

    The child does not inherit this module's loopback setting: Ray rewrites a 127.0.0.1
    address to the machine's network address, where a loopback-only cluster never answers
    (that hung the run for good), so focal must set it itself for a loopback address."""
    corpus, local = long_corpus
    address = cluster.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")  # loopback only
    out = tmp_path / "out"
    proc = focal("encode", corpus, "-d", out, "--ray", address, "-v", cwd=tmp_path,
                 env={"RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]},
                 unset=("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",), timeout=240, expect=0)
    assert b"focal: error" not in proc.stderr
    assert f"coding 10 files on 2 Ray workers ({address})".encode() in proc.stderr  # 1 per CPU
    assert tree_bytes(out, ".fcs") == local
    assert len(read_manifest(out / "manifest.tsv")) == 10
