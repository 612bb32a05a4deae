"""Training of the bundled codec; the command line is ``focal train`` / ``focal export-model``
(``python -m focalcli.train ARGS`` runs ``focal train ARGS``).

Library entry points: :func:`train` (config path -> checkpoint path) and :func:`export_model`
(checkpoint -> model folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from focalcli.train.export import export_model
    from focalcli.train.run import train

__all__ = ["train", "export_model"]


def __getattr__(name: str) -> Any:
    """Import torch only when an entry point is used (``python -m focalcli.train --help`` and
    the OpenMP settings of ``focal train`` come before it)."""
    if name == "train":
        from focalcli.train.run import train

        return train
    if name == "export_model":
        from focalcli.train.export import export_model

        return export_model
    raise AttributeError(name)
