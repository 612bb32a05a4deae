"""``OUT/manifest.tsv``: what happened to every file of a corpus run, one row each.

Tab-separated with a header line (quoted like the csv module does when a field holds a tab,
newline or quote), readable by any TSV reader (``pandas.read_csv(path, sep="\\t")``). Columns:

========== ============================================================================
input      the input path as planned
output     the output path as planned
status     ``ok`` or ``error``
duration_s length of the input, seconds
tokens     tokens per channel
channels   coded channels
bytes      size of the output file
seconds    wall time the worker spent on it
worker     ``host:pid`` of the process that coded it
model      model name and weights hash, ``name@hash``
source_rate, num_samples  the input's sample rate (Hz) and length (samples per channel)
error      for ``error`` rows: the one-line message
========== ============================================================================

During a run rows are appended (and flushed) as files finish; a run killed mid-write may
leave a partial last line, which the reader ignores. At the end the manifest is rewritten
atomically with one row per planned file, sorted by input.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO

from focalcli.pipeline.outputs import atomic_path

STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass(frozen=True)
class ManifestRow:
    """One file's outcome (see the module docstring for the columns)."""

    input: str
    output: str
    status: str
    duration_s: float = 0.0
    tokens: int = 0
    channels: int = 0
    bytes: int = 0
    seconds: float = 0.0
    worker: str = ""
    model: str = ""
    source_rate: int = 0
    num_samples: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


COLUMNS = tuple(f.name for f in fields(ManifestRow))
_TYPES: dict[str, Any] = {f.name: f.type for f in fields(ManifestRow)}


def _format(row: ManifestRow) -> str:
    buf = io.StringIO()
    values = asdict(row)
    for key in ("duration_s", "seconds"):
        values[key] = f"{values[key]:.3f}"
    csv.writer(buf, delimiter="\t", lineterminator="\n").writerow(values[c] for c in COLUMNS)
    return buf.getvalue()


def _parse(record: list[str]) -> ManifestRow | None:
    if len(record) != len(COLUMNS):
        return None
    values: dict[str, Any] = {}
    try:
        for name, text in zip(COLUMNS, record, strict=True):
            kind = _TYPES[name]
            values[name] = (float(text) if kind == "float" else int(text) if kind == "int"
                            else text)
    except ValueError:
        return None
    if values["status"] not in (STATUS_OK, STATUS_ERROR):
        return None
    return ManifestRow(**values)


def read_manifest(path: Path) -> dict[str, ManifestRow]:
    """Rows of the manifest at `path` by input path (the last row of an input wins).

    A missing file is an empty manifest; lines that do not parse (a partial last line, a
    foreign file) are skipped, so such a file only makes more files be coded again.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # drop a line cut short by a kill
    rows: dict[str, ManifestRow] = {}
    reader = csv.reader(io.StringIO(text), delimiter="\t")
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        return {}
    for record in reader:
        row = _parse(record)
        if row is not None:
            rows[row.input] = row
    return rows


class ManifestWriter:
    """Appends rows to a manifest as files finish; :meth:`finish` rewrites it whole.

    Opening rewrites the file (atomically) with the rows carried over from an earlier run, so
    appends never follow a partial line. Not thread-safe: the run's driver alone writes.
    """

    def __init__(self, path: Path, carried: list[ManifestRow]) -> None:
        self.path = path
        self._rows: dict[str, ManifestRow] = {row.input: row for row in carried}
        self._write_all()
        self._fh: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def _write_all(self) -> None:
        with atomic_path(self.path, force=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\t".join(COLUMNS) + "\n")
            for key in sorted(self._rows):
                fh.write(_format(self._rows[key]))

    def append(self, row: ManifestRow) -> None:
        """Record `row` (flushed to the OS, so a killed driver loses at most this line)."""
        self._rows[row.input] = row
        if self._fh is not None:
            self._fh.write(_format(row))
            self._fh.flush()

    def finish(self) -> list[ManifestRow]:
        """Close, rewrite the manifest sorted with one row per file; return the rows."""
        self.close()
        self._write_all()
        return [self._rows[key] for key in sorted(self._rows)]

    def close(self) -> None:
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
            self._fh.close()
            self._fh = None
