"""A unit of batch work, shared by the local batch (`focal encode/decode IN... -d DIR`) and the
corpus runners: one input, where its output goes, and a problem that fails it up front."""

from __future__ import annotations

from dataclasses import dataclass

from focalcli.errors import FocalError


@dataclass(frozen=True)
class Job:
    """One input and where its output goes (`-` is stdin/stdout); `problem` fails it upfront."""

    src: str
    dst: str
    problem: FocalError | None = None


class Cancelled(Exception):
    """Raised inside a worker when the run was interrupted."""
