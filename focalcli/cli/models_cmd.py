"""`focal models`: the bundled and official models, and `focal models pull NAME`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from focalcli.cli.options import Quiet, Verbose
from focalcli.cli.report import Reporter
from focalcli.cli.settings import make_settings
from focalcli.errors import ModelProblem

app = typer.Typer(
    help="List the bundled and official models, or pull one.",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _rows(listed: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for item in listed:
        info = item.info
        rows.append({
            "name": info.name,
            "kind": info.kind,
            "present": bool(item.present_locally),
            "bitrate_kbps": info.bitrate_kbps,
            "sample_rate_input": info.sample_rate_input,
            "sample_rate_output": info.sample_rate_output,
            "token_rate": info.token_rate,
            "codebook_size": info.codebook_size,
            "latency_ms": info.latency_ms,
            "causal": info.causal,
            "source": info.source,
            "licence": info.licence,
        })
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("NAME", "KIND", "PRESENT", "KBIT/S", "IN HZ", "OUT HZ", "TOK/S", "LATENCY")
    body = [(
        r["name"], r["kind"], "yes" if r["present"] else "no", f"{r['bitrate_kbps']:g}",
        str(r["sample_rate_input"]), str(r["sample_rate_output"]), f"{r['token_rate']:g}",
        f"{r['latency_ms']:g} ms" if r["latency_ms"] is not None else "offline",
    ) for r in rows]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in (head, *body))


@app.callback()
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table."
                                          )] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """List the bundled and official models: which are present here, bitrate, rates, latency.

    Official models that are not present can be fetched with `focal models pull NAME` where a
    network exists.
    """
    if ctx.invoked_subcommand is not None:
        return
    from focalcli.model import list_models

    rows = _rows(list_models())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        typer.echo(_table(rows))


@app.command("pull", no_args_is_help=True)
def pull(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="An official model name from "
                                        "`focal models` or a Hugging Face id owner/repo.")],
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Download an official model into the local cache; print the folder it is in.

    Offline (the hub cannot be reached) it fails at once, exit 7, unless the model is cached.
    """
    from focalcli.model import ModelLoadError, pull_model

    parent = ctx.parent.obj if ctx.parent is not None else None
    settings = make_settings(ctx.obj or parent, quiet=quiet, verbose=verbose)
    reporter = Reporter(settings)
    reporter.note(f"pulling {name} ...")
    if settings.quiet or not settings.progress:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    offline = _hub_reachable()
    if offline is not None:  # only the cache can help: no retries with backoff
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
    try:
        folder = pull_model(name)
    except ModelLoadError as err:
        raise ModelProblem(f"{err} [{offline}]" if offline else str(err)) from None
    reporter.note(f"{name} is in {folder}")
    typer.echo(str(folder))


#: seconds to wait for the hub's host to answer before calling the machine offline
HUB_PROBE_TIMEOUT_S = 5.0


def _hub_reachable() -> str | None:
    """None if the Hugging Face Hub's host answers on its port, else why not (one phrase).

    One quick look (name lookup, then a TCP connect of at most HUB_PROBE_TIMEOUT_S) instead of
    the hub client's retries with backoff, which take half a minute on an offline machine.
    """
    import socket
    from urllib.parse import urlsplit

    from focalcli.settings import read_environment

    if read_environment().hub_offline:
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return None
    except OSError as err:
        return f"{host} cannot be reached: {err.strerror or type(err).__name__}"
