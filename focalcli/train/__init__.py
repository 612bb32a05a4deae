"""Training of the bundled codec: ``python -m focalcli.train CONFIG`` (or ``focal train``).

Entry points: :func:`main` (argv list, returns an exit code), :func:`train` (config path ->
checkpoint path) and :func:`export_model` (checkpoint -> model folder).
"""

from __future__ import annotations

from focalcli.train.cli import main, train
from focalcli.train.export import export_model

__all__ = ["main", "train", "export_model"]
