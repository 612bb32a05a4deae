"""`focal train CONFIG`: train (or resume) a codec; `focal export-model CHECKPOINT OUT_DIR`.

Thin commands over :mod:`focalcli.train`: the checks of :mod:`focalcli.train.preflight` (the
config, the data, the run folder; the checkpoint and OUT_DIR) run up front so that user mistakes
end as one line with the usual exit status, then `focalcli.train.run.train` /
`focalcli.train.export.export_model` do the work. torch and the trainer are
imported inside the functions only.

The trainer's progress lines go to stderr (stdout carries only the checkpoint or model folder
path at the end, for scripts); `-q` drops them.

Interrupting `focal train`: the trainer checkpoints and stops after the current step on
SIGTERM. The first Ctrl-C while it trains sets the same stop request (then exit status 130, or
143 after SIGTERM, with the checkpoint saved); a second Ctrl-C aborts at once, keeping only
the last periodic checkpoint. Ctrl-C before training starts (loading data) just exits with 130.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from focalcli.cli.options import Force, Quiet, Verbose
from focalcli.cli.outputs import file_mode
from focalcli.cli.report import Reporter
from focalcli.cli.settings import make_settings
from focalcli.errors import (
    ExitCode,
    InputProblem,
    ModelProblem,
    OutputProblem,
    describe_os_error,
)

if TYPE_CHECKING:
    pass

#: The files `export-model` writes into OUT_DIR.
MODEL_FILES = ("config.json", "model.safetensors", "MODEL_CARD.md")


# --- focal train ----------------------------------------------------------------------------
# the checks before a run: focalcli.train.preflight

@contextlib.contextmanager
def _trainer_output(quiet: bool) -> Iterator[None]:
    """Route the trainer's progress lines (printed on stdout) to stderr, or nowhere with -q."""
    if quiet:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    else:
        with contextlib.redirect_stdout(sys.stderr):
            yield


class _InterruptToCheckpoint:
    """While installed: the first Ctrl-C during training stops after the step, with a checkpoint.

    It sets the trainer's stop request (:data:`focalcli.train.loop.STOP_REQUEST`, the one
    SIGTERM sets too) while the training loop runs (:data:`~focalcli.train.loop.TRAINING`).
    Outside the loop, or a second time, Ctrl-C raises KeyboardInterrupt as usual.
    """

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.requested = False
        self._previous: Any = None
        self._stop: Any = None
        self._training: Any = None

    def __enter__(self) -> _InterruptToCheckpoint:
        from focalcli.train.loop import STOP_REQUEST, TRAINING

        self._stop, self._training = STOP_REQUEST, TRAINING
        self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.requested or not self._training.is_set():
            raise KeyboardInterrupt
        self.requested = True
        self.reporter.note("interrupted: stopping after this step and saving a checkpoint "
                           "(Ctrl-C again to abort without it)")
        self._stop.set()


def _checkpoint_step(path: Path) -> int | None:
    """The step a checkpoint was saved at (memory-mapped: cheap), or None if unreadable."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["step"])
    except Exception:  # noqa: BLE001 - only used to tell a finished run from a stopped one
        return None


def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(
        metavar="CONFIG", show_default=False,
        help="Training config JSON (e.g. focalcli/train/configs/focal-small.json).")],
    run: Annotated[str | None, typer.Option(
        "--run", metavar="NAME",
        help="Run name; checkpoints go to $FOCAL_TRAIN_DIR/NAME or ~/.cache/focal/train/NAME. "
             "Default: the config's name.")] = None,
    run_dir: Annotated[Path | None, typer.Option(
        "--run-dir", metavar="DIR", help="Checkpoint folder (instead of --run).")] = None,
    steps: Annotated[int | None, typer.Option(
        "--steps", min=1, metavar="N",
        help="Stop after N steps in total (default: the config's steps; the learning-rate "
             "schedule always follows the config).")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Start again instead of resuming the run's checkpoint (it is "
                        "overwritten).")] = False,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, metavar="N",
        help="torch threads (default: the config's threads; FOCAL_THREADS is not used).")
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Train a codec from a config, or resume its run; print the last checkpoint's path.

    Checkpoints (last.pt, every few minutes and at the end) go to the run folder; the same
    command again resumes where it stopped. Progress lines go to stderr. Ctrl-C (or SIGTERM)
    stops after the current step with a checkpoint; a second Ctrl-C aborts at once.
    Export the result with `focal export-model`.
    """
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose)
    reporter = Reporter(settings)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (shared CPU)

    from focalcli.train import preflight

    cfg = preflight.read_config(config)
    preflight.check_model(cfg, config)
    n_files = preflight.check_data(cfg, config)
    from focalcli.model import ModelLoadError
    from focalcli.train.loop import default_run_dir
    from focalcli.train.run import train as run_training

    rdir = run_dir if run_dir is not None else default_run_dir(run or cfg.name)
    preflight.prepare_run_dir(rdir)
    target = steps or cfg.steps
    resuming = not fresh and (rdir / "last.pt").is_file()
    reporter.note(f"{'resuming' if resuming else 'training'} {config} in {rdir} "
                  f"({n_files} audio files, to step {target})")
    reporter.detail(f"torch threads {threads or cfg.threads}, batch {cfg.batch_size} x "
                    f"{cfg.data.crop_seconds} s, checkpoint every {cfg.checkpoint_minutes:g} min")

    with _InterruptToCheckpoint(reporter) as interrupt, _trainer_output(settings.quiet):
        try:
            last = run_training(config, run=run, steps=steps, fresh=fresh, run_dir=rdir,
                                threads=threads)
        except ModelLoadError as err:  # init_from names a model that cannot be loaded
            raise ModelProblem(str(err)) from None

    step = _checkpoint_step(last)
    if step is not None and step < target:
        reporter.note(f"stopped at step {step} of {target}; checkpoint {last} "
                      "(run the same command to resume)")
        raise typer.Exit(ExitCode.INTERRUPTED if interrupt.requested
                         else 128 + signal.SIGTERM)
    typer.echo(str(last))


# --- focal export-model ---------------------------------------------------------------------

def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """A new OUT_DIR appears whole (one rename); into an existing one each file is replaced."""
    for name in MODEL_FILES:  # safetensors writes 0600; a model folder is meant to be shared
        os.chmod(tmp / name, file_mode())
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    for name in MODEL_FILES:
        os.replace(tmp / name, out_dir / name)
    shutil.rmtree(tmp, ignore_errors=True)


def export_model(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Argument(
        metavar="CHECKPOINT", show_default=False,
        help="A training checkpoint (.pt) or a run folder (its last.pt).")],
    out_dir: Annotated[Path, typer.Argument(
        metavar="OUT_DIR", show_default=False,
        help="The model folder to write (config.json, model.safetensors, MODEL_CARD.md).")],
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME",
        help="Model name in the card and weights metadata (default: OUT_DIR's name).")] = None,
    card_extra: Annotated[str | None, typer.Option(
        "--card-extra", metavar="MD",
        help="Markdown (or a markdown file) appended to the model card.")] = None,
    calibrate_level: Annotated[bool, typer.Option(
        "--calibrate-level",
        help="Fold a gain into the decoder head so the decoded level equals the input level "
             "(codes a minute of the run's training data).")] = False,
    half: Annotated[bool, typer.Option(
        "--half",
        help="Store float16 weights: half the file; decoding still computes in float32.")] = False,
    force: Force = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Export a training checkpoint as a model folder that --model accepts; print its path."""
    settings = make_settings(ctx.obj, quiet=quiet, verbose=verbose, force=force)
    reporter = Reporter(settings)
    from focalcli.train import preflight

    path = preflight.check_checkpoint(checkpoint)
    preflight.check_out_dir(out_dir, settings.force)
    from focalcli.train.export import export_model as write_model

    model_name = name or out_dir.resolve().name
    parent = out_dir.resolve().parent
    if not parent.is_dir():
        raise OutputProblem("no such folder", str(parent))
    tmp = parent / f".{out_dir.resolve().name}.focal-tmp-{os.getpid()}"
    reporter.note(f"exporting {path} as {model_name} ...")
    try:
        try:
            write_model(path, tmp, model_name, card_extra, calibrate_level, half)
        except OSError as err:
            where = str(err.filename or tmp)
            if where.startswith(str(tmp)):
                raise OutputProblem(f"cannot write: {describe_os_error(err)}",
                                    str(out_dir)) from None
            raise InputProblem(f"cannot read: {describe_os_error(err)}", where) from None
        except (ValueError, KeyError, RuntimeError) as err:
            raise InputProblem(f"cannot export: {type(err).__name__}: {err}", str(path)) \
                from None
        try:
            _move_into_place(tmp, out_dir)
        except OSError as err:
            raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(out_dir)) \
                from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    reporter.note(f"model written to {out_dir} (use it with --model {out_dir})")
    typer.echo(str(out_dir))
