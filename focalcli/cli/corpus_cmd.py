"""`focal encode` in corpus mode (`--ray`, `--shard`, `--format`): checks, then the run."""

from __future__ import annotations

import re
from pathlib import Path

from focalcli.cli.report import Reporter
from focalcli.corpus.plan import parse_shard
from focalcli.corpus.work import FORMAT_FCS, FORMATS, EncodeSpec
from focalcli.errors import UsageProblem
from focalcli.pipeline.jobs import Job
from focalcli.settings import Settings

#: `--ray local`: a cluster on this machine, started (and stopped) by this run
RAY_LOCAL = "local"
_ADDRESS_RE = re.compile(r"^(auto|local|[a-z][a-z0-9+.-]*://\S+|[\w.-]+:\d+)$")


def check_ray_address(address: str) -> str | None:
    """The address for `ray.init` (None: a new local cluster); UsageProblem if not one.

    Anything that is not ``local``, ``auto``, ``scheme://...`` or ``host:port`` (say, a
    corpus folder written right after ``--ray``) is refused with a hint instead of being
    tried as an address.
    """
    if not _ADDRESS_RE.match(address):
        raise UsageProblem(f"--ray {address!r} is not a Ray address: local (a cluster on this "
                           "machine), auto (the running cluster), ray://HOST:PORT or HOST:PORT")
    return None if address == RAY_LOCAL else address


def encode_corpus(jobs: list[Job], output_dir: str | None, settings: Settings, *,
                  ray_address: str | None, shard_text: str | None, fmt: str | None,
                  workers: int | None, multichannel: bool, packet_ms: float | None,
                  raw: bool) -> int:
    """Run the corpus encode; returns the exit status. `workers` None: one per cluster CPU
    (Ray) or 1 (local); `ray_address` None: no Ray (threads here, `-j`)."""
    if output_dir is None:
        raise UsageProblem("--ray, --shard and --format code a corpus: give --output-dir DIR")
    if raw:
        raise UsageProblem("--raw cannot be used with --ray, --shard or --format")
    fmt = fmt or FORMAT_FCS
    if fmt not in FORMATS:
        raise UsageProblem(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt != FORMAT_FCS and packet_ms is not None:
        raise UsageProblem("--packet-ms applies to --format fcs only")
    shard = parse_shard(shard_text or "1/1")
    address = check_ray_address(ray_address) if ray_address is not None else None
    spec = EncodeSpec(model=settings.model, threads=settings.threads,
                      precision=getattr(settings, "precision", None), force=settings.force,
                      fmt=fmt, multichannel=multichannel, packet_ms=packet_ms)
    from focalcli.corpus.runner import LocalPool, Pool, run_corpus

    pool: Pool
    if ray_address is not None:
        from focalcli.corpus.ray_pool import RayPool

        pool = RayPool(spec, address, workers, settings.threads)
    else:
        pool = LocalPool(spec, workers or settings.jobs)
    try:
        return run_corpus(jobs, Path(output_dir), spec, shard, pool, Reporter(settings))
    finally:
        pool.close()
