"""A .fcs token stream -> audio in a sink: the decode loop `focal decode` (and the API) use.

Streams chained one after the other (``cat a.fcs b.fcs``) go to the same sink, each decoded
as a stream of its own (fresh decoder state, its own exact length,
:func:`focalcli.container.output_length`). Lost tokens are concealed; with `strict` any
damage is refused (StreamInvalid, exit 5). Imports the engine (torch) at call time only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from focalcli.errors import FocalError, StreamInvalid
from focalcli.pipeline.fcs import TokenStream

#: audio held back while the total length is unknown (a live stream's end marker has it);
#: more than the padding of the last 80 ms chunk plus resampler slack
HOLD_SECONDS = 0.25


def token_blocks(stream: TokenStream, codec: Any) -> Iterator[np.ndarray]:
    """The stream's int64 (channels, k) token blocks for `codec`, filled at the end to the
    tokens the encoder gives for the stream's length (whole chunks for a causal model)."""
    return stream.blocks(codec.chunk_tokens if codec.causal else 1, codec.num_tokens)


def check_strict(stream: TokenStream, strict: bool) -> None:
    """With `strict`, StreamInvalid (exit 5) once the stream has shown any damage."""
    if strict and stream.damages:
        raise StreamInvalid(f"damaged: {stream.describe_damage()} (--strict)", stream.name)


def decode_stream(stream: TokenStream, codec: Any, sink: Any, out_rate: int, *,
                  codecs: Any = None, strict: bool = False,
                  check: Callable[[], None] | None = None,
                  advance: Callable[[float], None] | None = None) -> str | None:
    """Decode `stream` (and the streams chained after it) with `codec` into `sink`.

    `sink`: an :class:`~focalcli.audio.AudioSink` at `out_rate` Hz with ``stream.channels``
    channels. `codecs`: a :class:`~focalcli.pipeline.codecs.CodecCache` that picks the codec of
    each chained stream (None: chained streams are not decoded). `check()` runs before each
    block (it may raise to cancel); `advance(seconds)` gets the output written. Returns None
    when everything was decoded, else one line saying why decoding stopped at a chained
    stream (other channel count, model not available).
    """
    from focalcli.audio import ExactLength
    from focalcli.pipeline.streaming import StreamDecoder

    channels = stream.channels
    stopped = None

    def toks(codec: Any) -> Iterator[np.ndarray]:
        for block in token_blocks(stream, codec):
            check_strict(stream, strict)
            yield block
        check_strict(stream, strict)

    while True:
        trim = ExactLength(sink, channels, hold=int(HOLD_SECONDS * out_rate))
        with StreamDecoder(codec, channels, out_rate) as decoder:
            for block in toks(codec):
                sig = decoder.push(block)
                if check is not None:
                    check()
                written = trim.put(sig, stream.output_length(out_rate))
                if advance is not None:
                    advance(written / out_rate)
            trim.put(decoder.flush(), stream.output_length(out_rate))
        trim.finish(stream.output_length(out_rate))
        more = stream.next_stream()
        check_strict(stream, strict)  # junk after the end marker is damage too
        if not more or codecs is None:
            break
        codec, stopped = chained_codec(stream, channels, codecs)
        if codec is None:
            break
    return stopped


def chained_codec(stream: TokenStream, channels: int, codecs: Any) -> tuple[Any, str | None]:
    """The codec for the stream `stream` has just moved to, or (None, why it is not decoded)
    when it cannot continue an output of `channels` channels."""
    k = stream.stream_index
    if stream.channels != channels:
        return None, (f"stream {k} has {stream.channels} channel(s), the output "
                      f"{channels}; decoded the first {k - 1} stream(s) only")
    try:
        codec = codecs.for_stream(stream.model_name, stream.weights_hash, stream.name,
                                  stream.header.token_space)
        stream.check_codec(codec)
    except FocalError as err:
        return None, f"stream {k} not decoded ({err.message}); decoded the first {k - 1} only"
    return codec, None
