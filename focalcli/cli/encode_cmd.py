"""`focal encode`: audio files (or stdin) -> .fcs streams."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from focalcli.cli.batch import Job, JobContext, plan_jobs, run_jobs
from focalcli.cli.options import (
    FILE_PRECISION,
    Bitrate,
    Force,
    Jobs,
    Model,
    OutputDir,
    Precision,
    Quiet,
    Threads,
    Verbose,
)
from focalcli.cli.outputs import STDIO, check_writable, open_output, stdin_binary
from focalcli.cli.report import Reporter
from focalcli.cli.settings import Settings, make_settings
from focalcli.errors import InputProblem, UsageProblem

#: accepted --bits values for raw input
RAW_BITS = ("8", "16", "24", "32", "32f")


@dataclass(frozen=True)
class EncodeOptions:
    """What `focal encode` was asked beyond the shared settings."""

    raw: Any  # PcmFormat of raw input, or None for audio files
    raw_rate: int
    raw_channels: int
    multichannel: bool
    packet_ms: float | None
    bitrate: str | None = None


def encode(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(
        metavar="IN [OUT]", show_default=False,
        help="Audio file(s) or folders ('-' = stdin). One IN and an optional OUT (default: IN "
             "with .fcs; '-' = stdout), or many INs with --output-dir.")],
    output_dir: OutputDir = None,
    force: Force = False,
    model: Model = None,
    multichannel: Annotated[bool, typer.Option(
        "--multichannel", help="Code each channel as its own stream instead of downmixing "
                               "to mono (the default: average of the channels).")] = False,
    raw: Annotated[bool, typer.Option(
        "--raw", help="Input is headerless little-endian PCM (give --rate; --bits and "
                      "--channels default to 16 and 1).")] = False,
    rate: Annotated[int | None, typer.Option(
        "--rate", "-r", min=1, metavar="HZ", help="Sample rate of --raw input.")] = None,
    bits: Annotated[str | None, typer.Option(
        "--bits", "-b", metavar="8|16|24|32|32f",
        help="Sample format of --raw input: 8 (unsigned), 16, 24, 32 (signed), 32f (float).")
    ] = None,
    channels: Annotated[int | None, typer.Option(
        "--channels", "-c", min=1, metavar="N", help="Channels of --raw input.")] = None,
    packet_ms: Annotated[float | None, typer.Option(
        "--packet-ms", min=0.001, metavar="MS",
        help="Duration of one .fcs packet (the unit that is lost when a file is damaged). "
             "Default: 4 s; 80 ms for --raw input on stdin (a live stream).")] = None,
    bitrate: Bitrate = None,
    jobs: Jobs = 1,
    threads: Threads = None,
    precision: Precision = FILE_PRECISION,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="[ADDRESS]", show_default=False,
        help="Code a corpus on Ray workers: no ADDRESS (or 'local') starts a cluster on this "
             "machine; 'auto' or ray://HOST:PORT joins a running one. -j: workers (default: "
             "one per CPU). Needs pip install 'focalcli[ray]'.")] = None,
    shard: Annotated[str | None, typer.Option(
        "--shard", metavar="K/N",
        help="Code only share K of N (1 <= K <= N): every N-th file of the sorted list, for "
             "array jobs over machines; the manifest is OUT/manifest.shard-K-of-N.tsv.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="fcs|npy",
        help="fcs (default) or npy: tokens per file as .npy plus OUT/tokens.parquet for "
             "language models. With --ray, --shard or --format the run is resumable: "
             "OUT/manifest.tsv records every file, a rerun codes only what is missing.")] = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Encode audio files (or stdin) to .fcs.

    Reads WAV, FLAC, OGG and whatever libsndfile reads, at any rate and channel count. Input
    is resampled to the model's rate (soxr, high quality) and downmixed to mono unless
    --multichannel; the source rate and length are kept, so decoding gives back the original
    duration. Empty input (0 samples) gives a valid .fcs that decodes to 0 samples.
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, force=force, model=model,
                             threads=threads, jobs=jobs, precision=precision)
    opts = _encode_options(raw, rate, bits, channels, multichannel, packet_ms)
    if bitrate is not None:
        from focalcli.pipeline.rungs import parse_bitrate

        parse_bitrate(bitrate)  # a usage error before anything is read
        opts = EncodeOptions(opts.raw, opts.raw_rate, opts.raw_channels, opts.multichannel,
                             opts.packet_ms, bitrate)
    from focalcli.audio import AUDIO_EXTENSIONS

    if ray is not None or shard is not None or fmt is not None:  # a corpus: focalcli.corpus
        from focalcli.cli.corpus_cmd import encode_corpus

        if bitrate is not None:
            raise UsageProblem("--bitrate does not go with --ray, --shard or --format: a "
                               "corpus is coded at the model's top rung (every group kept)")
        if output_dir is None:
            raise UsageProblem("--ray, --shard and --format code a corpus: give --output-dir")
        plan = plan_jobs(inputs, output_dir, out_ext=f".{fmt or 'fcs'}",
                         folder_exts=AUDIO_EXTENSIONS)
        # -j not given (nor FOCAL_JOBS): Ray runs one worker per CPU of the cluster
        jobs_source = getattr(ctx.get_parameter_source("jobs"), "name", "")
        workers = None if jobs_source == "DEFAULT" else jobs
        raise typer.Exit(encode_corpus(plan, output_dir, settings, ray_address=ray,
                                       shard_text=shard, fmt=fmt, workers=workers,
                                       multichannel=multichannel, packet_ms=packet_ms, raw=raw))
    plan = plan_jobs(inputs, output_dir, out_ext=".fcs", folder_exts=AUDIO_EXTENSIONS)
    reporter = Reporter(settings)
    encoder = _Encoder(settings, opts, reporter)
    code = run_jobs(plan, encoder.run, reporter, settings.jobs, "encoding")
    raise typer.Exit(code)


def _encode_options(raw: bool, rate: int | None, bits: str | None, channels: int | None,
                    multichannel: bool, packet_ms: float | None) -> EncodeOptions:
    from focalcli.audio import parse_pcm_format

    if not raw:
        given = [name for name, value in (("--rate", rate), ("--bits", bits),
                                          ("--channels", channels)) if value is not None]
        if given:
            raise UsageProblem(f"{', '.join(given)} describe raw input: add --raw (audio files "
                               "carry their own rate, format and channels)")
        return EncodeOptions(None, 0, 0, multichannel, packet_ms)
    if rate is None:
        raise UsageProblem("--raw needs --rate HZ (and --bits, --channels if not 16-bit mono)")
    try:
        fmt = parse_pcm_format(bits or "16")
    except ValueError as err:
        raise UsageProblem(f"--bits: {err}") from None
    return EncodeOptions(fmt, rate, channels or 1, multichannel, packet_ms)


class _Encoder:
    """Encodes one job at a time (several at once with -j); the model is shared."""

    def __init__(self, settings: Settings, opts: EncodeOptions, reporter: Reporter) -> None:
        from focalcli.pipeline.codecs import CodecCache

        self.settings = settings
        self.opts = opts
        self.reporter = reporter
        self.codecs = CodecCache(settings)
        self._noted: set[str] = set()

    def _open(self, src: str) -> Any:
        from focalcli.audio import (
            AudioError,
            RawPcmSource,
            open_audio_bytes,
            open_audio_file,
            open_raw_file,
        )

        try:
            if self.opts.raw is not None:
                if src == STDIO:
                    return RawPcmSource(stdin_binary("raw PCM"), self.opts.raw_rate,
                                        self.opts.raw_channels, self.opts.raw)
                return open_raw_file(src, self.opts.raw_rate, self.opts.raw_channels,
                                     self.opts.raw)
            if src == STDIO:
                return open_audio_bytes(stdin_binary("audio").read(), "stdin")
            return open_audio_file(src)
        except AudioError as err:
            raise InputProblem(str(err), _name(src)) from None

    def run(self, job: Job, ctx: JobContext) -> int:
        source = self._open(job.src)
        with source:
            if job.dst != STDIO:
                check_writable(Path(job.dst), self.settings.force,
                               () if job.src == STDIO else (Path(job.src),))
            codec = self.codecs.get()
            from focalcli.pipeline import encode_source, packet_tokens_for  # torch: past checks

            rate = source.sample_rate
            if source.num_frames is not None:
                ctx.set_total(source.num_frames / rate)
            packet_tokens = packet_tokens_for(codec, self.opts.packet_ms,
                                              self.opts.raw is not None and job.src == STDIO)
            rungs = self._rungs(codec)
            with open_output(job.dst, self.settings.force, "an .fcs stream") as out:
                done = encode_source(codec, source, out, name=_name(job.src),
                                     multichannel=self.opts.multichannel,
                                     packet_tokens=packet_tokens, live=job.dst == STDIO,
                                     check=ctx.check, advance=ctx.advance, rungs=rungs)
            frames = done.num_frames
        from focalcli.audio import input_warnings

        for problem in input_warnings(source):  # NaN, beyond full scale, clipped: once each
            self.reporter.warn(f"{_name(job.src)}: {problem}")
        stray = getattr(source, "stray_bytes", 0)
        if stray:
            self.reporter.warn(f"{_name(job.src)}: input ended inside a sample frame; "
                               f"{stray} stray byte(s) ignored")
        self.reporter.detail(f"{_name(job.src)} -> {_name(job.dst, 'stdout')}: "
                             f"{source.description}, {frames / rate:.2f} s")
        return 0


    def _rungs(self, codec: Any) -> Any:
        """The --bitrate schedule for `codec` (None without --bitrate); its notes said once."""
        if self.opts.bitrate is None:
            return None
        from focalcli.pipeline.rungs import RungSchedule

        rungs = RungSchedule.parse(codec, self.opts.bitrate)
        for note in rungs.notes:
            if note not in self._noted:
                self._noted.add(note)
                self.reporter.note(note)
        return rungs


def _name(path: str, stdio: str = "stdin") -> str:
    return stdio if path == STDIO else path
