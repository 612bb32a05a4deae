"""Files spread over a Ray cluster: a pool of actors, each loading the model once.

Every actor (:class:`EncodeWorker`, one CPU each by default) codes whole files with a
:class:`~focalcli.corpus.work.FileEncoder` and writes each output itself, atomically, so the
inputs and ``OUT/`` must be at the same path on every node (a shared file system). The
driver keeps up to :data:`IN_FLIGHT` files queued per actor. When an actor dies (its node
went away, it was killed, it ran out of memory) its files are sent to the others and a new
actor takes its place; a file whose worker died :data:`MAX_TRIES` times is recorded as an
error instead of being tried forever. ray is imported only here, when `--ray` is used.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from focalcli.corpus.manifest import STATUS_ERROR, ManifestRow
from focalcli.corpus.plan import remove_stale_parts
from focalcli.corpus.work import EncodeSpec, FileEncoder, FileResult
from focalcli.errors import ExitCode, FocalError
from focalcli.pipeline.jobs import Job

#: files queued on each actor at once (one running, one waiting: no idle gap between files)
IN_FLIGHT = 2
#: a file whose worker died this many times is recorded as an error
MAX_TRIES = 3
#: object store of a local cluster started here (little data goes through it: paths, rows)
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
INSTALL_HINT = "--ray needs Ray: pip install 'focalcli[ray]'"


#: Ray reads this when imported: "0" makes a cluster started here listen on loopback only
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


#: seconds to wait for a TCP connection to a cluster's address before giving up
CONNECT_TIMEOUT_S = 10.0


def is_loopback(address: str) -> bool:
    """True when a ``HOST:PORT`` address names this machine's loopback (127.x, ::1, localhost).

    Ray rewrites such an address to the machine's own network address before connecting,
    which never answers when the cluster listens on loopback only (as one started by focal,
    a test or the benchmark does): joining it needs :data:`LOOPBACK_ONLY_ENV` too.
    """
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise a one-line FocalError (exit 1) unless ``HOST:PORT`` (or ``ray://HOST:PORT``)
    accepts a TCP connection within `timeout_s`: Ray itself retries a dead address for minutes.
    ``auto`` and other forms are left to Ray."""
    bare = address.removeprefix("ray://")
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if isinstance(err, TimeoutError):
            reason = f"no answer in {timeout_s:g} s"
        raise FocalError(f"cannot connect to Ray at {address}: {reason}",
                         exit_code=ExitCode.FAILURE) from None


def import_ray(local: bool = False) -> Any:
    """ray, or a one-line FocalError (exit 2) saying how to install it.

    `local`: the run starts its own single-machine cluster on 127.0.0.1, or joins one at a
    loopback address (Ray advertises the loopback address; whether every Ray server also
    binds only to it depends on the Ray release, so keep such a machine behind a firewall); a
    no-op if ray is already imported or the variable is set.
    """
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")  # a write, for Ray (not a focal setting)
    try:
        import ray
    except ImportError:
        raise FocalError(INSTALL_HINT, exit_code=ExitCode.USAGE) from None
    return ray


class EncodeWorker:
    """The actor: one model, loaded when the actor starts; codes one file per call."""

    def __init__(self, spec: EncodeSpec) -> None:
        self.encoder = FileEncoder(spec)
        try:
            self.encoder.load()
        except FocalError:
            pass  # the first file reports it (exit 7), and that stops the run

    def pid(self) -> int:
        return os.getpid()

    def encode(self, src: str, dst: str) -> FileResult:
        return self.encoder.encode(Job(src, dst))


@dataclass
class _Slot:
    actor: Any
    generation: int = 0
    in_flight: int = 0


class RayPool:
    """Codes files on `workers` Ray actors at `address` (None: a local cluster here).

    `threads`: CPUs (and torch threads) per actor. Connects on construction (an already
    initialised Ray, e.g. in tests, is used as it is and left running).
    """

    def __init__(self, spec: EncodeSpec, address: str | None, workers: int | None,
                 threads: int | None = None) -> None:
        if address is not None and address != "auto":
            check_reachable(address)
        self.ray = import_ray(local=address is None or is_loopback(address.removeprefix("ray://")))
        self.spec = spec
        self.cpus_per_worker = max(1, threads or 1)
        self._started = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING,
                                      "configure_logging": True}
            if address is None:
                kwargs["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
            try:
                self.ray.init(address=address, **kwargs)
            except Exception as err:  # noqa: BLE001 - ray raises many kinds here
                raise FocalError(f"cannot connect to Ray at {address or 'a local cluster'}: "
                                 f"{type(err).__name__}: {err}",
                                 exit_code=ExitCode.FAILURE) from None
            self._started = True
        if workers is None:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // self.cpus_per_worker)
        self.workers = workers
        self.description = (f"{workers} Ray worker{'s' if workers > 1 else ''} "
                            f"({address or 'local cluster'})")
        self._remote = self.ray.remote(num_cpus=self.cpus_per_worker, max_restarts=0,
                                       max_task_retries=0)(EncodeWorker)
        self._slots = [_Slot(self._new_actor()) for _ in range(workers)]
        #: how many times an actor died and its files were sent elsewhere
        self.worker_deaths = 0
        self.retried_files = 0

    def _new_actor(self) -> Any:
        return self._remote.remote(self.spec)

    def in_flight(self) -> list[int]:
        """Files this pool has queued on each worker now (all 0 between runs)."""
        return [slot.in_flight for slot in self._slots]

    def actor_pids(self) -> list[int]:
        """Process ids of the live actors (tests kill one)."""
        return [self.ray.get(slot.actor.pid.remote()) for slot in self._slots]

    def results(self, jobs: list[Job]) -> Iterator[FileResult]:
        ray = self.ray
        errors = ray.exceptions
        queue: deque[tuple[Job, int]] = deque((job, 0) for job in jobs)
        pending: dict[Any, tuple[int, int, Job, int]] = {}  # ref -> slot, generation, job, tries
        try:
            yield from self._run(queue, pending, errors.RayActorError, errors.RayTaskError)
        finally:  # stopped early (Ctrl-C, an error): drop what is queued on the workers
            for ref, (index, generation, _job, _tries) in pending.items():
                slot = self._slots[index] if index < len(self._slots) else None
                if slot is not None and slot.generation == generation:
                    slot.in_flight -= 1
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - finished or gone already
                    pass

    def _run(self, queue: deque[tuple[Job, int]], pending: dict[Any, tuple[int, int, Job, int]],
             actor_error: type[Exception], task_error: type[Exception]
             ) -> Iterator[FileResult]:
        ray = self.ray
        while queue or pending:
            for index, slot in enumerate(self._slots):
                while queue and slot.in_flight < IN_FLIGHT:
                    job, tries = queue.popleft()
                    if job.problem is not None:  # nothing to send: fail it here
                        yield FileEncoder(self.spec).encode(job)
                        continue
                    ref = slot.actor.encode.remote(os.path.abspath(job.src),
                                                   os.path.abspath(job.dst))
                    pending[ref] = (index, slot.generation, job, tries)
                    slot.in_flight += 1
            if not pending:
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                index, generation, job, tries = pending.pop(ref)
                slot = self._slots[index]
                if slot.generation == generation:
                    slot.in_flight -= 1
                try:
                    result: FileResult = ray.get(ref)
                except actor_error:
                    self._replace(index, generation)
                    remove_stale_parts(job.dst)  # what the dead worker was writing
                    if tries + 1 >= MAX_TRIES:
                        yield self._died(job, tries + 1)
                    else:
                        self.retried_files += 1
                        queue.appendleft((job, tries + 1))
                    continue
                except task_error as err:  # encode() itself never raises; be safe anyway
                    yield FileResult(ManifestRow(job.src, job.dst, STATUS_ERROR,
                                                 error=f"{job.src}: internal error: {err}"),
                                     ExitCode.FAILURE)
                    continue
                yield _as_planned(result, job)

    def _replace(self, index: int, generation: int) -> None:
        """The actor of slot `index` died: start another (once per death)."""
        slot = self._slots[index]
        if slot.generation != generation:
            return
        self.worker_deaths += 1
        try:
            self.ray.kill(slot.actor)
        except Exception:  # noqa: BLE001 - it is dead already
            pass
        self._slots[index] = _Slot(self._new_actor(), generation + 1)

    def _died(self, job: Job, tries: int) -> FileResult:
        return FileResult(ManifestRow(job.src, job.dst, STATUS_ERROR,
                                      error=f"{job.src}: the worker coding it died {tries} "
                                            "times (killed, out of memory, or it cannot start: "
                                            "is focalcli[ray] installed on every node?)"),
                          ExitCode.FAILURE)

    def close(self) -> None:
        for slot in self._slots:
            try:
                self.ray.kill(slot.actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._slots = []
        if self._started:
            self.ray.shutdown()
            self._started = False


def _as_planned(result: FileResult, job: Job) -> FileResult:
    """The worker saw absolute paths; the manifest and messages use the planned ones."""
    row = result.row
    error = (row.error.replace(os.path.abspath(job.src), job.src)
             .replace(os.path.abspath(job.dst), job.dst))
    planned = ManifestRow(**{**row.__dict__, "input": job.src, "output": job.dst,
                             "error": error})
    warnings = tuple(w.replace(os.path.abspath(job.src), job.src) for w in result.warnings)
    return FileResult(planned, result.exit_code, result.model_identity, warnings)
