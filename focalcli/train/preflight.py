"""Checks before training or exporting, so that user mistakes end as one line and an exit code.

`focal train` (and anything else that starts a run) calls :func:`read_config`,
:func:`check_model`, :func:`check_data` and :func:`prepare_run_dir` before the trainer loads
any data; `focal export-model` calls :func:`check_checkpoint` and :func:`check_out_dir`. Each
raises a :class:`~focalcli.errors.FocalError` (InputProblem, exit 3; OutputProblem, exit 6).
torch and the model are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from focalcli.errors import InputProblem, OutputProblem, describe_os_error

if TYPE_CHECKING:
    from focalcli.train.config import TrainConfig


def _without_prefix(message: str, path: Path) -> str:
    """The trainer's config errors start with the path (``cfg.json.data: ...``); the CLI puts
    it in front itself."""
    prefix = str(path)
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix):]
    return rest[2:] if rest.startswith(": ") else rest.lstrip(".")


def read_config(path: Path) -> TrainConfig:
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


def check_model(cfg: TrainConfig, path: Path) -> None:
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


def check_data(cfg: TrainConfig, path: Path) -> int:
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


def prepare_run_dir(run_dir: Path) -> None:
    """The run folder exists (made if needed) and is writable; OutputProblem (exit 6)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputProblem("not a directory (the run folder)", str(run_dir))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputProblem(f"cannot write: {describe_os_error(err)}", str(run_dir)) from None
    if not os.access(run_dir, os.W_OK):
        raise OutputProblem("cannot write: permission denied", str(run_dir))


def check_checkpoint(checkpoint: Path) -> Path:
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


def check_out_dir(out_dir: Path, force: bool) -> None:
    """OUT_DIR of `export-model` may be written: absent, empty, or `force`; else exit 6."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputProblem("exists and is not a directory", str(out_dir))
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise OutputProblem("already exists (use --force to overwrite)", str(out_dir))
