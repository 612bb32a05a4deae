"""Options shared by `focal stream` and `focal play` (one spelling, one help text each)."""

from __future__ import annotations

from typing import Annotated

import typer

Device = Annotated[str | None, typer.Option(
    "--device", "-D", metavar="DEVICE",
    help="Sound device: an index or part of a name from `focal devices`. Default: the "
         "system's default device.")]
SimulateLoss = Annotated[float, typer.Option(
    "--simulate-loss", min=0.0, max=99.0, metavar="PCT",
    help="Drop this percentage of packets (demos and tests; see --loss-model).")]
LossModelOpt = Annotated[str, typer.Option(
    "--loss-model", metavar="random|bursty",
    help="How --simulate-loss drops packets: independently (random) or in bursts of 3 "
         "packets on average (bursty, Gilbert-Elliott).")]
Seed = Annotated[int | None, typer.Option(
    "--seed", metavar="N", help="Seed of the loss and jitter simulation (repeatable runs).")]
