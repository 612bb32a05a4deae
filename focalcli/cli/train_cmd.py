"""`focal train CONFIG`: train (or resume) a codec; `focal export-model CHECKPOINT OUT_DIR`.

Thin commands over :mod:`focalcli.train`: the CLI checks the config, the data and the run
folder up front so that user mistakes end as one line with the usual exit status, then calls
`focalcli.train.cli.train` / `focalcli.train.export.export_model`. torch and the trainer are
imported inside the functions only.

The trainer's progress lines go to stderr (stdout carries only the checkpoint or model folder
path at the end, for scripts); `-q` drops them.

Interrupting `focal train`: the trainer checkpoints and stops after the current step on
SIGTERM. The first Ctrl-C while it trains asks for the same thing (then exit status 130, or 143
after SIGTERM, with the checkpoint saved); a second Ctrl-C aborts at once, keeping only the
last periodic checkpoint. Ctrl-C before training starts (loading data) just exits with 130.
"""

from __future__ import annotations

import contextlib
import json
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
    from focalcli.train.config import TrainConfig

#: The files `export-model` writes into OUT_DIR.
MODEL_FILES = ("config.json", "model.safetensors", "MODEL_CARD.md")


# --- focal train ----------------------------------------------------------------------------

def _without_prefix(message: str, path: Path) -> str:
    """The trainer's config errors start with the path (``cfg.json.data: ...``); the CLI puts
    it in front itself."""
    prefix = str(path)
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix):]
    return rest[2:] if rest.startswith(": ") else rest.lstrip(".")


def _read_config(path: Path) -> TrainConfig:
    """`load_config` with every way it can fail turned into one InputProblem (exit 3)."""
    from focalcli.train.config import load_config

    name = str(path)
    if path.is_dir():
        raise InputProblem("is a directory", name)
    if not path.exists():
        raise InputProblem("no such file", name)
    try:
        return load_config(path)
    except json.JSONDecodeError as err:  # before ValueError: it is one
        raise InputProblem(f"not valid JSON ({err.msg}, line {err.lineno})", name) from None
    except OSError as err:  # the config itself, or the codec config its "model" names
        where = str(err.filename) if err.filename else name
        what = "" if where == name else f' ("model" in {name})'
        raise InputProblem(f"cannot read: {describe_os_error(err)}{what}", where) from None
    except (ValueError, KeyError) as err:
        raise InputProblem(f"not a valid training config: {_without_prefix(str(err), path)}",
                           name) from None
    except (TypeError, AttributeError) as err:
        raise InputProblem(f"not a valid training config (wrong JSON type: {err})",
                           name) from None


def _check_model(cfg: TrainConfig, path: Path) -> None:
    """Build the codec once so that a bad "model" section is an input error, not a crash."""
    from focalcli.model.codec import FocalCodec
    from focalcli.train.loop import frozen_names

    try:
        codec = FocalCodec(cfg.model)
    except (ValueError, TypeError, KeyError) as err:
        raise InputProblem(f"invalid \"model\" (codec config): {type(err).__name__}: {err}",
                           str(path)) from None
    try:
        frozen_names(codec, cfg.optim.freeze)
    except ValueError as err:
        raise InputProblem(str(err), str(path)) from None


def _check_data(cfg: TrainConfig, path: Path) -> int:
    """The data the config names exists; returns the number of audio files."""
    from focalcli.train.data import data_folders, list_files

    for folder in data_folders(cfg.data):
        if not folder.is_dir():
            raise InputProblem(f"no such folder (data.folders in {path})", str(folder))
    try:
        files = list_files(cfg.data)
    except OSError as err:
        where = str(err.filename or cfg.data.manifest)
        raise InputProblem(f"cannot read: {describe_os_error(err)} (data.manifest in {path})",
                           where) from None
    except (KeyError, ValueError) as err:
        raise InputProblem(f"not a training manifest (column {err} missing or bad; "
                           f"data.manifest in {path})", str(cfg.data.manifest)) from None
    if not files:
        raise InputProblem("no training audio found (check data.manifest, data.split and "
                           "data.folders)", str(path))
    return len(files)


def _prepare_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputProblem("not a directory (the run folder)", str(run_dir))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(run_dir)) from None
    if not os.access(run_dir, os.W_OK):
        raise OutputProblem("cannot write: permission denied", str(run_dir))


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

    The trainer installs a SIGTERM handler around its loop (stop after this step, save, return);
    a Ctrl-C while that handler is in place calls it. Outside the loop, or a second time, Ctrl-C
    raises KeyboardInterrupt as usual.
    """

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.requested = False
        self._outer_term: Any = None
        self._previous: Any = None

    def __enter__(self) -> _InterruptToCheckpoint:
        self._outer_term = signal.getsignal(signal.SIGTERM)
        self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        trainer_stop = signal.getsignal(signal.SIGTERM)
        if self.requested or trainer_stop is self._outer_term or not callable(trainer_stop):
            raise KeyboardInterrupt
        self.requested = True
        self.reporter.note("interrupted: stopping after this step and saving a checkpoint "
                           "(Ctrl-C again to abort without it)")
        trainer_stop(signal.SIGTERM, frame)


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

    cfg = _read_config(config)
    _check_model(cfg, config)
    n_files = _check_data(cfg, config)
    from focalcli.model import ModelLoadError
    from focalcli.train.cli import train as run_training
    from focalcli.train.loop import default_run_dir

    rdir = run_dir if run_dir is not None else default_run_dir(run or cfg.name)
    _prepare_run_dir(rdir)
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

def _check_checkpoint(checkpoint: Path) -> Path:
    """The checkpoint file (a run folder means its last.pt), checked to be a training one."""
    import torch

    path = checkpoint / "last.pt" if checkpoint.is_dir() else checkpoint
    if not path.exists():
        if checkpoint.is_dir():
            raise InputProblem("no last.pt in this run folder", str(checkpoint))
        raise InputProblem("no such file", str(checkpoint))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except OSError as err:
        raise InputProblem(f"cannot read: {describe_os_error(err)}", str(path)) from None
    except Exception as err:  # noqa: BLE001 - pickle/zip errors of a file that is not one
        raise InputProblem(f"not a focal training checkpoint ({type(err).__name__})",
                           str(path)) from None
    if not isinstance(state, dict) or not {"config", "model", "step"} <= set(state):
        raise InputProblem("not a focal training checkpoint (no config, model or step)",
                           str(path))
    return path


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputProblem("exists and is not a directory", str(out_dir))
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutputProblem("already exists (use --force to overwrite)", str(out_dir))


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
    path = _check_checkpoint(checkpoint)
    _check_out_dir(out_dir, settings.force)
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
