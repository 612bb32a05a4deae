"""The join between audio, tokens and .fcs bytes: every command and the API go through it.

* :mod:`~focalcli.pipeline.streaming`: :class:`StreamEncoder` / :class:`StreamDecoder`
  (push / flush / close; resampling, downmix or multichannel, chunking);
* :mod:`~focalcli.pipeline.encode`: an audio source -> a `.fcs` writer (`focal encode`, the
  corpus runners, `focal stream` through the same encoder object); packet-ms -> tokens;
* :mod:`~focalcli.pipeline.decode`: a `.fcs` token stream -> an audio sink (`focal decode`);
* :mod:`~focalcli.pipeline.verify`: `focal info --verify`;
* :mod:`~focalcli.pipeline.fcs`: opening a `.fcs` (errors translated once), writers for a
  codec's tokens, token blocks with the fill rule;
* :mod:`~focalcli.pipeline.codecs`: models loaded once per run, and the model for a stream.

Imports below it only (engine, container, audio, model); nothing heavy at import time: the
engine (torch) loads when an encoder or decoder is made.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CodecCache",
    "EncodedSource",
    "StreamDecoder",
    "StreamEncoder",
    "TokenStream",
    "decode_stream",
    "encode_source",
    "new_writer",
    "open_fcs",
    "open_reader",
    "packet_tokens_for",
    "verify_fcs",
    "warm_up",
]

_WHERE = {
    "CodecCache": "codecs",
    "EncodedSource": "encode",
    "encode_source": "encode",
    "packet_tokens_for": "encode",
    "StreamDecoder": "streaming",
    "StreamEncoder": "streaming",
    "warm_up": "streaming",
    "TokenStream": "fcs",
    "new_writer": "fcs",
    "open_fcs": "fcs",
    "open_reader": "fcs",
    "decode_stream": "decode",
    "verify_fcs": "verify",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'focalcli.pipeline' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"focalcli.pipeline.{_WHERE[name]}"), name)
