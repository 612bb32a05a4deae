"""`focal stream`: microphone, file or stdin -> live .fcs packets on stdout (or a file)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from focalcli.cli.live_options import Device, LossModelOpt, Seed, SimulateLoss
from focalcli.cli.options import (
    STREAM_PRECISION,
    Bitrate,
    Force,
    Model,
    Quiet,
    StreamPrecision,
    Threads,
    Verbose,
)
from focalcli.cli.outputs import STDIO, check_writable, open_output, refuse_terminal_stdout
from focalcli.cli.report import Reporter
from focalcli.cli.settings import make_settings
from focalcli.errors import InputProblem, UsageProblem

MIC = "mic"
FRAMINGS = ("compact", "sync")


def stream(
    ctx: typer.Context,
    input_: Annotated[str, typer.Option(
        "--input", "-i", metavar="mic|FILE|-",
        help="What to stream: 'mic' (the input device, at the rate it offers, resampled to the "
             "model's), an audio file, or '-' for stdin (a WAV on a pipe streams as it "
             "arrives; other formats are read whole).")] = MIC,
    output: Annotated[str, typer.Option(
        "--output", "-o", metavar="OUT|-",
        help="Where the .fcs stream goes ('-' = stdout, flushed after every packet).")] = STDIO,
    device: Device = None,
    realtime: Annotated[bool, typer.Option(
        "--realtime", help="Pace a file (or stdin) like a microphone: no faster than real "
                           "time.")] = False,
    duration: Annotated[float | None, typer.Option(
        "--duration", min=0.0, metavar="SECONDS",
        help="Stop after this many seconds of input (default: until the input ends or "
             "Ctrl-C).")] = None,
    packet_ms: Annotated[float | None, typer.Option(
        "--packet-ms", min=0.001, metavar="MS",
        help="Duration of one .fcs packet. Default: one model chunk (80 ms), latency "
             "first.")] = None,
    bitrate: Bitrate = None,
    framing: Annotated[str, typer.Option(
        "--framing", metavar="compact|sync",
        help="compact: one check byte per packet, no sync word (17 % above a 0.6 kbit/s "
             "payload at 80 ms packets; for thin links); sync: the framing of files (5 bytes "
             "a packet; the bytes equal `focal encode` with the same --packet-ms).")
    ] = "compact",
    simulate_loss: SimulateLoss = 0.0,
    loss_model: LossModelOpt = "random",
    seed: Seed = None,
    force: Force = False,
    model: Model = None,
    threads: Threads = None,
    precision: StreamPrecision = STREAM_PRECISION,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Stream live: encode the microphone, a file or stdin to .fcs packets as they fill.

    Each packet is written and flushed the moment it is complete, so `focal stream | focal
    play` talks live. Ctrl-C (or SIGTERM, or the end of the input, or --duration) ends the
    stream cleanly with a valid end marker. The bytes are ordinary .fcs: over a file, with the
    same --packet-ms and --framing sync, they equal those of `focal encode`. With a ladder
    model, SIGUSR1 steps the bitrate one rung down and SIGUSR2 one rung up, from the next
    packet on, without restarting.
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, force=force, model=model,
                             threads=threads, precision=precision)
    from focalcli.live.netsim import LOSS_MODELS, NetworkSimulation

    if framing not in FRAMINGS:
        raise UsageProblem(f"--framing: unknown framing {framing!r} (use compact or sync)")
    if bitrate is not None:
        from focalcli.pipeline.rungs import parse_bitrate

        parse_bitrate(bitrate)
    if loss_model not in LOSS_MODELS:
        raise UsageProblem(f"--loss-model: unknown model {loss_model!r} "
                           f"(use one of: {', '.join(LOSS_MODELS)})")
    if output == STDIO:
        refuse_terminal_stdout("an .fcs stream")
    else:
        check_writable(_path(output), settings.force,
                       () if input_ in (MIC, STDIO) else (_path(input_),))
    reporter = Reporter(settings)
    from focalcli.pipeline.codecs import CodecCache

    codec = CodecCache(settings).get()
    if not codec.causal:
        raise UsageProblem(f"model {codec.name} is not causal: it cannot stream")
    from focalcli.pipeline import packet_tokens_for

    packet_tokens = packet_tokens_for(codec, packet_ms, False) or codec.chunk_tokens
    from focalcli.pipeline.streaming import warm_up

    warm_up(codec)
    from focalcli.pipeline.rungs import RungSchedule

    rungs = RungSchedule.parse(codec, bitrate)
    for note in rungs.notes:
        reporter.note(note)
    source = _open_source(input_, device, realtime)
    with source, _rung_signals(rungs, reporter):
        _run(source, output, codec, packet_tokens, duration, settings.force, reporter,
             NetworkSimulation(simulate_loss, loss_model, 0.0, seed), input_, rungs, framing)


@contextlib.contextmanager
def _rung_signals(rungs: Any, reporter: Reporter) -> Iterator[None]:
    """While streaming: SIGUSR1 one rung down, SIGUSR2 one rung up (ladder models only)."""
    import signal
    import threading

    if not rungs.ladder or threading.current_thread() is not threading.main_thread():
        yield
        return

    def step(by: int) -> Any:
        def handler(signum: int, frame: Any) -> None:
            groups = rungs.step(by)
            reporter.note(f"bitrate now {rungs.codec.rung_bitrate_kbps(groups):.2f} kbit/s "
                          f"({groups * rungs.codec.bits_per_token} bits per frame)")
        return handler

    saved = {sig: signal.signal(sig, step(by))
             for sig, by in ((signal.SIGUSR1, -1), (signal.SIGUSR2, 1))}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _path(name: str) -> Any:
    from pathlib import Path

    return Path(name)


def _open_source(spec: str, device: str | None, realtime: bool) -> Any:
    from focalcli.audio import AudioError, open_audio_bytes, open_audio_file
    from focalcli.audio.devices import DeviceError, MicSource
    from focalcli.audio.wavstream import open_wav_stream
    from focalcli.live.pacing import PacedSource

    name = "stdin" if spec == STDIO else spec
    try:
        if spec == MIC:
            if realtime:
                raise UsageProblem("--realtime paces files and stdin; the microphone is "
                                   "real time already")
            return MicSource(device)
        if device is not None:
            raise UsageProblem("--device selects the microphone; it does not go with "
                               f"--input {spec}")
        if spec == STDIO:
            stdin = sys.stdin.buffer
            head = stdin.read(4)
            if head == b"RIFF":
                source: Any = open_wav_stream(stdin, head)
            else:
                source = open_audio_bytes(head + stdin.read(), "stdin")
        elif not os.path.exists(spec) and spec.lower() in ("mic", "microphone", "default"):
            raise UsageProblem(f"--input {spec}: write 'mic' for the microphone")
        else:
            source = open_audio_file(spec)
    except AudioError as err:
        raise InputProblem(str(err), name) from None
    except DeviceError as err:
        raise InputProblem(str(err), MIC) from None
    return PacedSource(source) if realtime else source


def _run(source: Any, output: str, codec: Any, packet_tokens: int, duration: float | None,
         force: bool, reporter: Reporter, network: Any, input_: str, rungs: Any,
         framing: str) -> None:
    from focalcli.live.streamer import stream_source

    rate = int(source.sample_rate)
    name = {MIC: MIC, STDIO: "stdin"}.get(input_, input_)
    reporter.detail(f"streaming {source.description} -> "
                    f"{'stdout' if output == STDIO else output}: model {codec.name}, "
                    f"{packet_tokens * 1000 / codec.token_rate:g} ms packets")
    with open_output(output, force, "an .fcs stream") as out:
        done = stream_source(codec, source, out, name=name, packet_tokens=packet_tokens,
                             duration_s=duration, network=network,
                             rungs=rungs if rungs.ladder else None, framing=framing)
    stats = done.stats
    chunk_ms = 1000 * codec.chunk_size / codec.sample_rate_input
    how = "stopped" if stats.stopped else "ended"
    dropped = f", {done.dropped} packets dropped (simulated)" if done.dropped is not None else ""
    from focalcli.audio import input_warnings

    for problem in input_warnings(source):  # NaN, beyond full scale, clipped: once each
        reporter.warn(f"{name}: {problem}")
    overflows = getattr(source, "overflows", 0)
    if overflows:
        reporter.warn(f"{name}: the input device overflowed {overflows} time(s); audio was lost")
    reporter.detail(f"stream {how}: {stats.frames_in / rate:.2f} s, {done.packets} "
                    f"packets{dropped}; {stats.summary(chunk_ms)}")
