"""`focal info`: what is in .fcs files, like soxi/opusinfo; `--verify` decodes and checks.

Without --verify nothing heavy is imported: the container is bytes only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from focalcli.cli.options import Model, Quiet, Threads, Verbose
from focalcli.cli.outputs import STDIO, StdoutWriter, stdin_binary
from focalcli.cli.report import Reporter
from focalcli.cli.settings import Settings, make_settings
from focalcli.errors import (
    ExitCode,
    FocalError,
    UsageProblem,
    batch_exit_code,
)


def info(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(
        metavar="IN.fcs", show_default=False,
        help=".fcs file(s) or folders (their .fcs files, recursively); '-' = stdin.")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object per file (a JSON list for several files).")
    ] = False,
    field: Annotated[list[str] | None, typer.Option(
        "--field", "-k", metavar="NAME",
        help="Print only this field's value (repeatable; tab-separated, one line per file). "
             "Names: see --json.")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", "-t", help="Also decode every file with its model and check the result, "
                               "writing nothing (like flac -t).")] = False,
    model: Model = None,
    threads: Threads = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Show what .fcs files hold; --verify also decodes and checks them.

    A summary per file: model, bitrate, duration, packets, overhead, integrity.

    Exit status: 0 if every file is intact, 4 if one is damaged (still decodable), 5 if one is
    not a usable .fcs, 1 for several files with a failure.
    """
    from focalcli.cli import fcs

    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, model=model, threads=threads)
    reporter = Reporter(settings)
    fields = list(field or [])
    unknown = [f for f in fields if f not in fcs.INFO_FIELDS]
    if unknown:
        raise UsageProblem(f"--field: unknown field {unknown[0]!r} (one of: "
                           f"{', '.join(fcs.INFO_FIELDS)})")
    verifier = _Verifier(settings) if verify else None
    codes: list[int] = []
    records: list[dict[str, Any]] = []
    out = StdoutWriter()
    files = _expand_folders(inputs, reporter, codes)
    for src in files:
        name = "stdin" if src == STDIO else src
        try:
            summary, data = fcs.summarize_file(stdin_binary(".fcs") if src == STDIO else src,
                                               name)
            if verifier is not None:
                summary["verified"] = verifier.verify(data, name)
        except FocalError as err:
            reporter.error(err.with_path(name))
            codes.append(err.exit_code)
            continue
        code = ExitCode.CONCEALED if summary["damaged"] else ExitCode.OK
        codes.append(code)
        if as_json:
            records.append(summary)
        elif fields:
            out.write(("\t".join(_plain(summary[f]) for f in fields) + "\n").encode())
        else:
            gap = "\n" if len(codes) > 1 else ""
            out.write((gap + fcs.format_summary(summary) + "\n").encode())
        if summary["damaged"]:
            reporter.warn(f"{name}: damaged: {summary['integrity']}")
    if as_json and records:
        doc: Any = records[0] if len(files) == 1 and files == inputs else records
        out.write((json.dumps(doc, indent=2) + "\n").encode())
    out.flush()
    raise typer.Exit(batch_exit_code(codes))


def _expand_folders(inputs: list[str], reporter: Reporter, codes: list[int]) -> list[str]:
    """The inputs with each folder replaced by its .fcs files (sorted, recursive, hidden
    entries skipped, as encode and decode take folders); a folder without any, or a FIFO or
    device inside one, is reported (exit 3) and its code appended to `codes`."""
    import os

    from focalcli.cli.batch import plan_jobs

    out: list[str] = []
    for src in inputs:
        if src == STDIO or not os.path.isdir(src):
            out.append(src)
            continue
        for job in plan_jobs([src], os.devnull, out_ext=".fcs", folder_exts=(".fcs",)):
            if job.problem is not None:
                reporter.error(job.problem.with_path(job.src))
                codes.append(job.problem.exit_code)
            else:
                out.append(job.src)
    return out


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class _Verifier:
    """Decodes a summarised stream with its model and checks the audio (imports torch)."""

    def __init__(self, settings: Settings) -> None:
        from focalcli.pipeline.codecs import CodecCache

        self.settings = settings
        self.codecs = CodecCache(settings)

    def verify(self, data: bytes, name: str) -> bool:
        """Decode the .fcs in `data` with its model; StreamInvalid if the audio is not right."""
        from focalcli.pipeline.verify import verify_fcs

        return verify_fcs(data, name, self.codecs)
