"""The Typer application: global options, help text, and the registered commands.

Command modules are imported here, but they import nothing heavy at module level: torch, the
model and the engine load inside the command functions that need them, so `focal --help`,
`focal info` and shell completion stay fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from focalcli import __version__
from focalcli.cli import (
    decode_cmd,
    devices_cmd,
    encode_cmd,
    info_cmd,
    models_cmd,
    play_cmd,
    stream_cmd,
    train_cmd,
)
from focalcli.cli.options import Quiet, Verbose
from focalcli.cli.settings import ENV_DEBUG, ENV_JOBS, ENV_MODEL, ENV_THREADS
from focalcli.errors import EXIT_STATUS_TABLE


def _epilog() -> str:
    # "\b" keeps click from rewrapping the next paragraph: one table row per line.
    rows = "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_STATUS_TABLE)
    env = "\n".join(f"  {name:<14}{text}" for name, text in (
        (ENV_MODEL, "default for --model"),
        (ENV_THREADS, "default for --threads"),
        (ENV_JOBS, "default for --jobs"),
        (ENV_DEBUG, "1: tracebacks for internal errors"),
    ))
    return (f"\b\nExit status:\n{rows}\n\n\b\nEnvironment:\n{env}\n\n"
            "See focal(1) for details and examples.")


app = typer.Typer(
    name="focal",
    help="focal: a low-bitrate neural speech codec (FocalCodec-Stream) for the command line.\n\n"
         "Encode speech to compact .fcs files, decode them back, inspect them.",
    epilog=_epilog(),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"focal {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """focal: a low-bitrate neural speech codec (FocalCodec-Stream) for the command line."""
    ctx.obj = {"quiet": quiet, "verbose": verbose}


app.command("encode", no_args_is_help=True)(encode_cmd.encode)
app.command("decode", no_args_is_help=True)(decode_cmd.decode)
app.command("info", no_args_is_help=True)(info_cmd.info)
app.command("stream")(stream_cmd.stream)
app.command("play")(play_cmd.play)
app.command("devices")(devices_cmd.devices)
app.add_typer(models_cmd.app, name="models")
app.command("train", no_args_is_help=True)(train_cmd.train)
app.command("export-model", no_args_is_help=True)(train_cmd.export_model)
