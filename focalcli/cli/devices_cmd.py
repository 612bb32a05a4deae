"""`focal devices`: the sound input and output devices, as sounddevice (PortAudio) sees them."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from focalcli.cli.options import Quiet, Verbose
from focalcli.cli.report import Reporter
from focalcli.cli.settings import make_settings
from focalcli.errors import FocalError, InputProblem


def devices(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a "
                                          "table.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """List the sound input and output devices (the defaults marked with '*').

    The index or a part of the name selects a device with `--device` in `focal stream` and
    `focal play`. Without a sound system (no PortAudio) the table is an error (exit 3) and
    --json prints an empty list.
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose)
    from focalcli.audio.devices import DeviceError, list_devices

    try:
        found = list_devices()
    except DeviceError as err:
        if not as_json:
            raise InputProblem(str(err), "devices") from None
        Reporter(settings).warn(f"devices: {err}")
        found = []
    if as_json:
        typer.echo(json.dumps([asdict(d) for d in found], indent=2))
        return
    if not found:
        raise FocalError("no sound devices found (is a sound server running?)", "devices")
    head = ("", "INDEX", "NAME", "API", "IN", "OUT", "RATE")
    rows = [(("*" if d.default_input or d.default_output else ""), str(d.index), d.name,
             d.hostapi, str(d.max_input_channels), str(d.max_output_channels),
             f"{d.default_samplerate:g}") for d in found]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    Reporter(settings).detail("default input: " + ", ".join(
        d.name for d in found if d.default_input) + "; default output: " + ", ".join(
        d.name for d in found if d.default_output))
