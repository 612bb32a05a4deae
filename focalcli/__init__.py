"""focal: a command-line streaming speech codec built on FocalCodec-Stream, and its Python API.

The API (:mod:`focalcli.api`) is available from the package itself, loaded on first use so
that ``focal --help`` stays fast: ``focalcli.load_model``, ``encode``, ``decode``, ``to_fcs``,
``from_fcs``, ``encode_to_fcs``, ``decode_fcs``, ``StreamEncoder``, ``StreamDecoder``,
``LOST_TOKEN``.

Layers, imports downward only (tests/test_layering.py checks every pair):
``errors``/``settings`` (roots) <- ``container`` (.fcs bytes, lengths; no torch) and
``model`` (tensors) <- ``audio`` (sources, sinks, devices) and ``engine`` (streaming state) <-
``pipeline`` (the join: audio <-> tokens <-> .fcs) <- ``live`` (pacing, jitter buffer),
``corpus`` (batch runners) and ``api`` <- ``cli`` (commands). ``train`` imports the model only.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("LOST_TOKEN", "StreamDecoder", "StreamEncoder", "decode", "decode_fcs", "encode",
        "encode_to_fcs", "from_fcs", "load_model", "to_fcs")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from focalcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'focalcli' has no attribute {name!r}")
