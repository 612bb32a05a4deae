"""`focal play`: an .fcs file or live stream -> the speaker, an audio file, or stdout."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from focalcli.cli.live_options import Device, LossModelOpt, Seed, SimulateLoss
from focalcli.cli.options import (
    STREAM_PRECISION,
    Force,
    Model,
    Quiet,
    StreamPrecision,
    Threads,
    Verbose,
)
from focalcli.cli.outputs import (
    STDIO,
    StdoutWriter,
    atomic_path,
    check_writable,
    is_stream_output,
    open_output,
)
from focalcli.cli.report import Reporter
from focalcli.cli.settings import make_settings
from focalcli.errors import OutputProblem, StreamInvalid, UsageProblem

SPEAKER = "speaker"
#: seconds behind schedule after which live audio is skipped on the speaker
MAX_BEHIND_S = 0.5


def play(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        metavar="[IN|-]", show_default=False,
        help=".fcs file, or '-' for stdin (default), e.g. `focal stream | focal play`.")] = STDIO,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE|-",
        help="Write the audio instead of playing it: a .wav, .flac or .raw file, or '-' for "
             "raw 16-bit little-endian PCM at the model's output rate on stdout (raw too on "
             "a FIFO or device whose name says nothing, e.g. /dev/null).")] = None,
    device: Device = None,
    buffer_ms: Annotated[float | None, typer.Option(
        "--buffer-ms", min=0.0, metavar="MS",
        help="Jitter buffer: how long after its expected arrival a packet is played; later "
             "packets are concealed. Default: 40 ms, plus --simulate-jitter.")] = None,
    simulate_loss: SimulateLoss = 0.0,
    loss_model: LossModelOpt = "random",
    simulate_jitter: Annotated[float, typer.Option(
        "--simulate-jitter", min=0.0, metavar="MS",
        help="Delay each received packet by a random 0..MS ms (demos and tests).")] = 0.0,
    seed: Seed = None,
    force: Force = False,
    model: Model = None,
    threads: Threads = None,
    precision: StreamPrecision = STREAM_PRECISION,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Play an .fcs file or live stream on the speaker (or write the audio).

    A file plays every packet it holds, in order (it is never late); only damaged or missing
    parts are concealed. A live stream (a pipe) goes through a jitter buffer that absorbs
    uneven arrival; lost, late or corrupt packets are concealed, so speech continues and fades
    over longer gaps instead of clicking or dropping out. At the end it prints the latency,
    packets received, lost, late and concealed, and buffer underruns (not with -q).
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, force=force, model=model,
                             threads=threads, precision=precision)
    from focalcli.live.netsim import LOSS_MODELS, NetworkSimulation
    from focalcli.live.player import DEFAULT_BUFFER_MS

    if loss_model not in LOSS_MODELS:
        raise UsageProblem(f"--loss-model: unknown model {loss_model!r} "
                           f"(use one of: {', '.join(LOSS_MODELS)})")
    if output is not None and device is not None:
        raise UsageProblem("--device selects the speaker; it does not go with --output")
    fmt = _output_format(output)
    if output not in (None, STDIO):
        check_writable(Path(str(output)), settings.force,
                       () if source == STDIO else (Path(source),))
    network = NetworkSimulation(simulate_loss, loss_model, simulate_jitter, seed)
    buffer = DEFAULT_BUFFER_MS + simulate_jitter if buffer_ms is None else buffer_ms
    reporter = Reporter(settings)
    name = "stdin" if source == STDIO else source
    with _open_input(source) as (stream, live):
        from focalcli.pipeline.codecs import CodecCache

        codecs = CodecCache(settings)
        ready = _prepare_live(codecs, output) if live else None
        reader = _reader(stream, name)
        if ready is not None and ready.weights_hash == reader.header.model_hash:
            codec = ready
        else:
            codec = codecs.for_stream(reader.header.model_name, reader.header.model_hash, name,
                                      reader.header.token_space)
        from focalcli.pipeline.fcs import check_header_for_codec, unplayed_rest

        check_header_for_codec(reader.header, codec, name)  # nothing trusted from a header
        if not codec.causal:
            raise StreamInvalid(f"model {codec.name} is not causal: it cannot play live", name)
        if reader.header.channels != 1:
            raise StreamInvalid(f"has {reader.header.channels} channels; `focal play` plays "
                                "mono streams (use `focal decode`)", name)
        if live and codec is not ready:
            from focalcli.pipeline.streaming import warm_up

            warm_up(codec)
        reporter.detail(f"playing {name} -> {output or 'the speaker'}: model {codec.name}, "
                        f"{reader.header.packet_tokens * 1000 / reader.header.token_rate:g} ms "
                        f"packets, buffer {buffer:g} ms")
        stats = _play(reader, codec, output, fmt, device, buffer, network, live,
                      settings.force, name)
        rest = None if live else unplayed_rest(reader)  # a pipe may stay open after the end
        if rest is not None:
            reporter.warn(f"{name}: {rest}")
    reporter.note(f"{name}: {stats.summary()}")


def _prepare_live(codecs: Any, output: str | None) -> Any:
    """Before a live stream's header arrives: load and warm up the model it most likely uses
    (--model, FOCAL_MODEL or the bundled one) and start the sound system, so that no backlog
    builds up while the sender is already streaming. None if that model cannot be loaded."""
    from focalcli.errors import ModelProblem
    from focalcli.pipeline.streaming import warm_up

    if output is None:
        from focalcli.audio.devices import DeviceError, sounddevice

        try:
            sounddevice()
        except DeviceError:
            pass  # reported when the speaker is opened
    try:
        codec = codecs.get()
    except ModelProblem:
        return None
    if not codec.causal:
        return None
    warm_up(codec)
    return codec


def _output_format(output: str | None) -> str | None:
    from focalcli.audio import sink_format_for

    if output is None:
        return None
    if output == STDIO:
        return "raw"
    fmt = sink_format_for(output, None)
    if fmt is None and is_stream_output(output):  # /dev/null, a FIFO: like stdout
        fmt = "raw"
    if fmt is None:
        raise UsageProblem(f"cannot tell the output format from the name {output!r}; use .wav, "
                           ".flac or .raw")
    return fmt


class _open_input:  # noqa: N801 - used like a function
    """(binary stream, is_live) for a path or '-'; a pipe or terminal is live, a file is not."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._fh: BinaryIO | None = None
        self._opened: Any = None

    def __enter__(self) -> tuple[BinaryIO, bool]:
        if self.source == STDIO:
            stream: BinaryIO = sys.stdin.buffer
            if stream.isatty():
                raise UsageProblem("no input: name an .fcs file, or pipe a stream into it "
                                   "(focal stream | focal play)")
            try:
                mode = os.fstat(stream.fileno()).st_mode
            except (OSError, ValueError):
                mode = 0
            return stream, not stat.S_ISREG(mode)
        from focalcli.pipeline.fcs import open_fcs

        self._opened = open_fcs(self.source, self.source)
        self._fh = self._opened.__enter__()
        return self._fh, not stat.S_ISREG(os.fstat(self._fh.fileno()).st_mode)

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.__exit__(None, None, None)


def _reader(stream: BinaryIO, name: str) -> Any:
    from focalcli.pipeline.fcs import open_reader

    return open_reader(stream, name)


class _FlushingSink:
    """A raw PCM sink on a pipe that flushes every block (live output must not wait)."""

    def __init__(self, inner: Any, stream: StdoutWriter | BinaryIO) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.channels = inner.channels
        self._stream = stream

    def write(self, sig: Any) -> None:
        self.inner.write(sig)
        self._stream.flush()

    def close(self) -> None:
        self.inner.close()


def _play(reader: Any, codec: Any, output: str | None, fmt: str | None, device: str | None,
          buffer_ms: float, network: Any, live: bool, force: bool, name: str) -> Any:
    from focalcli.audio import RawPcmSink, SoundFileSink, parse_pcm_format
    from focalcli.container import FcsError
    from focalcli.live.player import Player

    rate = int(codec.sample_rate_output)
    pcm = parse_pcm_format("16")

    def run(sink: Any) -> Any:
        # A speaker cannot play faster than real time: a backlog at the start (audio far
        # behind its schedule) is decoded but not played, so it does not become lasting latency.
        behind = max(MAX_BEHIND_S, 2 * buffer_ms / 1000) if output is None else None
        player = Player(reader, codec, sink, buffer_ms=buffer_ms, network=network,
                        max_behind_s=behind)
        try:
            stats = player.play_live() if live else player.play_file()
        except FcsError as err:
            raise StreamInvalid(str(err), name) from None
        except KeyboardInterrupt:
            stats = player.stats
        return stats

    if output is None:
        from focalcli.audio.devices import DeviceError, SpeakerSink

        try:
            speaker = SpeakerSink(device, rate)
        except DeviceError as err:
            raise OutputProblem(str(err), SPEAKER) from None
        try:
            stats = run(speaker)
        finally:
            speaker.close()
        stats.device_latency_ms = 1000 * speaker.latency_s
        return stats
    if output == STDIO or fmt == "raw":
        with open_output(output, force, "audio") as out:
            sink = _FlushingSink(RawPcmSink(out, rate, 1, pcm), out)
            return run(sink)
    if is_stream_output(output):  # a FIFO or device: written into (the WAV/FLAC at the end)
        import io

        buffer = io.BytesIO()
        with open_output(output, force, "audio") as out:
            with SoundFileSink(buffer, str(fmt), rate, 1, pcm) as mem_sink:
                stats = run(mem_sink)
            out.write(buffer.getvalue())
        return stats
    with atomic_path(Path(output), force) as tmp:
        with SoundFileSink(str(tmp), str(fmt), rate, 1, pcm) as file_sink:
            return run(file_sink)
