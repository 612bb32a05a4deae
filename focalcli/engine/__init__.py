"""Streaming engine: chunking, state and batching on top of the model layer."""

from focalcli.engine.offline import decode_tokens, default_threads, encode_signal, set_threads
from focalcli.engine.session import DecoderSession, EncoderSession

__all__ = ["DecoderSession", "EncoderSession", "decode_tokens", "default_threads",
           "encode_signal", "set_threads"]
