"""Which files a corpus run codes: the sorted job list, its shard, and what is already done."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from focalcli.errors import UsageProblem
from focalcli.pipeline.jobs import Job

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, like ``split -n K/N``): the files whose position in
    the sorted list, counted from 0, is ``index - 1`` modulo `count`."""

    index: int = 1
    count: int = 1

    @property
    def suffix(self) -> str:
        """File-name tag of this shard's manifest and token table ('' for the whole run)."""
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> Shard(K, N); UsageProblem unless 1 <= K <= N."""
    m = _SHARD_RE.match(text)
    if not m:
        raise UsageProblem(f"--shard {text!r}: expected K/N, e.g. 1/4 (the first of 4 shares)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageProblem(f"--shard {text}: K must be between 1 and N (N >= 1)")
    return Shard(index, count)


def sorted_jobs(jobs: list[Job]) -> list[Job]:
    """Jobs in a deterministic order (by input path), whatever order the arguments came in."""
    return sorted(jobs, key=lambda job: (job.src, job.dst))


def shard_jobs(jobs: list[Job], shard: Shard) -> list[Job]:
    """Every `shard.count`-th job of the sorted list, starting at `shard.index - 1`."""
    return sorted_jobs(jobs)[shard.index - 1 :: shard.count]


def remove_stale_parts(dst: str) -> int:
    """Remove temporary files a killed run left beside `dst` (``.NAME.*.part``); returns how many.

    Outputs are written to such a file and renamed only when complete (see
    :func:`focalcli.pipeline.outputs.atomic_path`), so a leftover one is never a finished output.
    """
    path = Path(dst)
    prefix = f".{path.name}."
    removed = 0
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    for name in names:
        if name.startswith(prefix) and name.endswith(".part"):
            try:
                os.unlink(path.parent / name)
                removed += 1
            except OSError:
                pass
    return removed
