"""`focal decode`: .fcs streams -> WAV, FLAC or raw PCM."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from focalcli.cli.batch import Job, JobContext, plan_jobs, run_jobs
from focalcli.cli.options import (
    FILE_PRECISION,
    Force,
    Jobs,
    Model,
    OutputDir,
    Precision,
    Quiet,
    Threads,
    Verbose,
)
from focalcli.cli.outputs import (
    STDIO,
    atomic_path,
    check_writable,
    is_stream_output,
    open_output,
    stdin_binary,
)
from focalcli.cli.report import Reporter
from focalcli.cli.settings import Settings, make_settings
from focalcli.errors import (
    ExitCode,
    OutputProblem,
    StreamDamaged,
    UsageProblem,
)

FORMATS = ("wav", "flac", "raw")


@dataclass(frozen=True)
class DecodeOptions:
    """What `focal decode` was asked beyond the shared settings."""

    fmt: str | None  # wav | flac | raw, or None: from the output's extension
    pcm: Any  # PcmFormat of the output samples
    rate: str | None  # None: model output rate; "source": the encoded file's rate; or Hz
    strict: bool


def decode(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(
        metavar="IN.fcs [OUT]", show_default=False,
        help=".fcs file(s) or folders ('-' = stdin). One IN and an optional OUT (default: IN "
             "with .wav; '-' = stdout, raw PCM unless --format), or many INs with "
             "--output-dir.")],
    output_dir: OutputDir = None,
    force: Force = False,
    model: Model = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-F", metavar="wav|flac|raw",
        help="Output format. Default: from OUT's extension; wav for files, raw on stdout "
             "(and on a FIFO or device whose name says nothing, e.g. /dev/null).")
    ] = None,
    bits: Annotated[str, typer.Option(
        "--bits", "-b", metavar="8|16|24|32|32f",
        help="Output samples: 8, 16, 24, 32-bit integers or 32f float (FLAC: 8-24).")] = "16",
    rate: Annotated[str | None, typer.Option(
        "--rate", "-r", metavar="HZ|source",
        help="Output sample rate: Hz, or 'source' for the rate of the encoded input "
             "(then the sample count equals the original's exactly). Default: the model's "
             "output rate.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail on a damaged .fcs (exit 5) instead of concealing what is "
                         "missing (exit 4).")] = False,
    jobs: Jobs = 1,
    threads: Threads = None,
    precision: Precision = FILE_PRECISION,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Decode .fcs to WAV, FLAC or raw PCM (s16le by default on stdout).

    The output lasts exactly as long as the encoded input. A damaged file is decoded where
    intact and concealed where missing; focal says so on stderr and exits with 4 (--strict:
    refuses, exit 5).
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, force=force, model=model,
                             threads=threads, jobs=jobs, precision=precision)
    opts = _decode_options(fmt, bits, rate, strict)
    out_ext = "." + (opts.fmt or "wav")
    plan = plan_jobs(inputs, output_dir, out_ext=out_ext, folder_exts=(".fcs",))
    reporter = Reporter(settings)
    decoder = _Decoder(settings, opts, reporter)
    code = run_jobs(plan, decoder.run, reporter, settings.jobs, "decoding")
    raise typer.Exit(code)


def _decode_options(fmt: str | None, bits: str, rate: str | None, strict: bool) -> DecodeOptions:
    from focalcli.audio import parse_pcm_format

    if fmt is not None and fmt.lower() not in FORMATS:
        raise UsageProblem(f"--format: unknown format {fmt!r} (use one of: {', '.join(FORMATS)})")
    try:
        pcm = parse_pcm_format(bits)
    except ValueError as err:
        raise UsageProblem(f"--bits: {err}") from None
    if rate is not None and rate != "source" and (not rate.isdigit() or int(rate) <= 0):
        raise UsageProblem(f"--rate: {rate!r} is neither a positive number of Hz nor 'source'")
    if fmt is not None and fmt.lower() == "flac":
        _check_flac_bits(pcm)
    return DecodeOptions(fmt.lower() if fmt else None, pcm, rate, strict)


def _check_flac_bits(pcm: Any, path: str | None = None) -> None:
    if pcm.is_float or pcm.bits > 24:
        raise UsageProblem(f"--bits {pcm.name}: FLAC stores 8, 16 or 24-bit integers only", path)


class _Decoder:
    """Decodes one job at a time (several at once with -j); loaded models are shared."""

    def __init__(self, settings: Settings, opts: DecodeOptions, reporter: Reporter) -> None:
        from focalcli.pipeline.codecs import CodecCache

        self.settings = settings
        self.opts = opts
        self.reporter = reporter
        self.codecs = CodecCache(settings)

    def _output_format(self, dst: str) -> str:
        from focalcli.audio import sink_format_for

        if dst == STDIO:
            return self.opts.fmt or "raw"
        fmt = sink_format_for(dst, self.opts.fmt)
        if fmt is None and is_stream_output(dst):  # /dev/null, a FIFO: like stdout
            fmt = "raw"
        if fmt is None:
            raise UsageProblem(f"cannot tell the output format from the name {dst!r}; "
                               "use .wav, .flac or .raw, or --format")
        if fmt == "flac":
            _check_flac_bits(self.opts.pcm, dst)
        return fmt

    def run(self, job: Job, ctx: JobContext) -> int:
        from focalcli.pipeline import fcs

        fmt = self._output_format(job.dst)
        if job.dst != STDIO:
            check_writable(Path(job.dst), self.settings.force,
                           () if job.src == STDIO else (Path(job.src),))
        name = "stdin" if job.src == STDIO else job.src
        with fcs.open_fcs(stdin_binary(".fcs") if job.src == STDIO else job.src, name) as fh:
            stream = fcs.TokenStream(fh, name)
            codec = self.codecs.for_stream(stream.model_name, stream.weights_hash, name,
                                           stream.header.token_space)
            stream.check_codec(codec)
            out_rate = self._out_rate(stream, codec)
            if job.dst == STDIO or fmt == "raw" or is_stream_output(job.dst):  # not replaced
                with open_output(job.dst, self.settings.force, "audio") as out:
                    stopped = self._write(out, fmt, codec, stream, out_rate, ctx)
            else:
                with atomic_path(Path(job.dst), self.settings.force) as tmp:
                    stopped = self._write(str(tmp), fmt, codec, stream, out_rate, ctx)
        duration = stream.duration_s()
        self.reporter.detail(
            f"{name} -> {'stdout' if job.dst == STDIO else job.dst}: "
            f"{'?' if duration is None else f'{duration:.2f}'} s, {fmt} "
            f"{self.opts.pcm.name}-bit {out_rate} Hz, model {codec.name}")
        if stream.stream_index > 1:
            self.reporter.detail(f"{name}: {stream.stream_index} chained streams decoded one "
                                 "after the other")
        if stopped is not None:
            self.reporter.warn(StreamDamaged(stopped, name))
        if stream.damages:
            self.reporter.warn(StreamDamaged(f"damaged: {stream.describe_damage()}; "
                                             "missing audio was concealed", name))
        return ExitCode.CONCEALED if stream.damages or stopped is not None else ExitCode.OK

    def _out_rate(self, stream: Any, codec: Any) -> int:
        if self.opts.rate is None:
            return int(codec.sample_rate_output)
        if self.opts.rate == "source":
            return int(stream.header.source_sample_rate)
        return int(self.opts.rate)

    def _write(self, target: Any, fmt: str, codec: Any, stream: Any, out_rate: int,
               ctx: JobContext) -> str | None:
        """Decode `stream` (and the streams chained after it) into `target` (a path for
        WAV/FLAC files, else a binary file); the line saying why decoding stopped at a chained
        stream, or None (:func:`focalcli.pipeline.decode.decode_stream`)."""
        from focalcli.audio import AudioError, RawPcmSink, SoundFileSink
        from focalcli.pipeline.decode import decode_stream

        channels = stream.channels
        ctx.set_total(stream.duration_s())
        buffer = io.BytesIO() if fmt != "raw" and not isinstance(target, str) else None
        if fmt == "raw":
            sink: Any = RawPcmSink(target, out_rate, channels, self.opts.pcm)
        else:
            try:
                sink = SoundFileSink(buffer if buffer is not None else target, fmt, out_rate,
                                     channels, self.opts.pcm)
            except AudioError as err:
                raise OutputProblem(str(err)) from None
        with sink:
            stopped = decode_stream(stream, codec, sink, out_rate, codecs=self.codecs,
                                    strict=self.opts.strict, check=ctx.check,
                                    advance=ctx.advance)
        if buffer is not None:
            target.write(buffer.getvalue())
        return stopped
