"""Option declarations shared by several commands (one spelling, one help text each)."""

from __future__ import annotations

from typing import Annotated

import typer

from focalcli.cli.settings import ENV_JOBS, ENV_MODEL, ENV_PRECISION, ENV_THREADS
from focalcli.model.registry import FILE_PRECISION, PRECISIONS, STREAM_PRECISION

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, notes or warnings; "
                                     "errors only.")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True,
                                      help="More detail per file (repeat for more).")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs.")]
Model = Annotated[str | None, typer.Option(
    "--model", "-m", envvar=ENV_MODEL, metavar="MODEL",
    help="Model: a name from `focal models`, a folder with config.json and model.safetensors, "
         "a config.json, or a Hugging Face id owner/repo. Default: the bundled model.")]
Threads = Annotated[int | None, typer.Option(
    "--threads", envvar=ENV_THREADS, min=1, metavar="N",
    help="CPU threads per model call (default: 1, fastest per stream on small machines; "
         "use -j to code files in parallel).")]
def _check_precision(value: str) -> str:
    if value not in PRECISIONS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(PRECISIONS)}")
    return value


_PRECISION_HELP = ("Compute precision: fp32 (exact, as the reference), bf16 (bfloat16 weights), "
                   "mixed (bf16 where tokens are made, int8 where audio is made) or int8 "
                   "(int8 weights: least time, least exact); see docs/precision.md.")
Precision = Annotated[str, typer.Option(
    "--precision", envvar=ENV_PRECISION, metavar="|".join(PRECISIONS),
    callback=_check_precision,
    help=f"{_PRECISION_HELP} Default: {FILE_PRECISION}.")]
StreamPrecision = Annotated[str, typer.Option(
    "--precision", envvar=ENV_PRECISION, metavar="|".join(PRECISIONS),
    callback=_check_precision,
    help=f"{_PRECISION_HELP} Default: {STREAM_PRECISION}, the fastest that keeps 98 % of the "
         "bundled model's fp32 tokens.")]
Jobs = Annotated[int, typer.Option(
    "--jobs", "-j", envvar=ENV_JOBS, min=1, metavar="N",
    help="Files processed in parallel; they share one loaded model.")]
OutputDir = Annotated[str | None, typer.Option(
    "--output-dir", "-d", metavar="DIR",
    help="Write one output per input under DIR, mirroring the tree of input folders.")]
Bitrate = Annotated[str | None, typer.Option(
    "--bitrate", metavar="KBPS[,SEC=KBPS...]",
    help="Payload bitrate in kbit/s for a model with a bitrate ladder (focal-small-ladder: "
         "0.6, 1.2, 2.4): the nearest rung is sent, said in one line if not exact. A schedule "
         "changes it on the way: 2.4,10=0.6 sends 2.4 from the start and 0.6 from 10 s on. "
         "Default: the model's top rung. Decoding follows whatever the stream carries.")]
