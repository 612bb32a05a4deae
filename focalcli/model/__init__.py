"""Model layer: FocalCodec-Stream in PyTorch, and how models are found and loaded.

Importing this package does not import torch; ``FocalCodec`` and ``load_codec`` do when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from focalcli.model.catalog import ListedModel, list_models, pull_model
from focalcli.model.loading import ModelLoadError, load_codec
from focalcli.model.registry import DEFAULT_MODEL, ModelInfo

if TYPE_CHECKING:
    from focalcli.model.codec import FocalCodec

__all__ = ["DEFAULT_MODEL", "FocalCodec", "ListedModel", "ModelInfo", "ModelLoadError",
           "list_models", "load_codec", "pull_model"]


def __getattr__(name: str) -> Any:
    if name == "FocalCodec":
        from focalcli.model.codec import FocalCodec

        return FocalCodec
    raise AttributeError(name)
