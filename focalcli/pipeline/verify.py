"""`focal info --verify`: decode a whole .fcs with its model, writing nothing, and check it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from focalcli.errors import StreamInvalid
from focalcli.pipeline.decode import token_blocks
from focalcli.pipeline.fcs import TokenStream


def verify_fcs(data: bytes, name: str, codecs: Any) -> bool:
    """Decode the .fcs in `data` (every chained stream) with the codec `codecs.for_stream`
    picks; True if the audio is right, else StreamInvalid (exit 5): non-finite samples, or
    fewer samples than the stream's length (:func:`focalcli.container.output_length`; a
    non-causal model's tokens may end short of it, then their own span counts)."""
    from focalcli.pipeline.streaming import StreamDecoder

    stream = TokenStream(io.BytesIO(data), name)
    while True:
        codec = codecs.for_stream(stream.model_name, stream.weights_hash, name,
                                  stream.header.token_space)
        stream.check_codec(codec)
        samples = 0
        with StreamDecoder(codec, stream.channels) as decoder:
            for block in token_blocks(stream, codec):
                samples += _checked(decoder.push(block), name)
            samples += _checked(decoder.flush(), name)
        expected = stream.output_length(int(codec.sample_rate_output))
        if expected is not None and stream.num_samples is not None:
            tokens = codec.num_tokens(stream.num_samples)
            expected = min(expected, tokens * codec.samples_per_token_output)
        if expected is not None and samples < expected:
            raise StreamInvalid(f"decoding gave {samples} samples, expected {expected}", name)
        if not stream.next_stream():
            return True


def _checked(sig: np.ndarray, name: str) -> int:
    if not np.isfinite(sig).all():
        raise StreamInvalid("decoding gave non-finite samples", name)
    return int(sig.shape[1])
