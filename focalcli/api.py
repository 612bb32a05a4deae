"""The public Python API: audio (numpy) <-> tokens (numpy) <-> .fcs bytes or files.

For researchers who tokenize speech for language models and for anyone embedding focal::

    import numpy as np
    import focalcli

    model = focalcli.load_model("focal-small")         # the bundled model, offline
    audio = np.zeros((1, 16000), dtype=np.float32)      # (channels, samples) in [-1, 1]
    toks = focalcli.encode(model, audio, 16000)         # int64 (1, k)
    data = focalcli.to_fcs(model, toks, 16000, audio.shape[1])   # .fcs bytes
    back, rate = focalcli.decode_fcs(data, model)       # float32 (1, m) at `rate` Hz

Every function goes through :mod:`focalcli.pipeline`, the same join the `focal` commands use:
:func:`encode_to_fcs` gives the bytes ``focal encode`` writes, :func:`decode_fcs` the samples
``focal decode`` writes (before their conversion to integers). Audio is float32 shaped
(channels, samples), sample rates in Hz, tokens int64 shaped (channels, tokens) with
:data:`LOST_TOKEN` (-1) for a lost token. Errors are :class:`focalcli.errors.FocalError`
subclasses (a one-line message and the exit code the CLI would use).

Importing this module is cheap; torch loads in :func:`load_model`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from focalcli.container.lengths import LOST_TOKEN
from focalcli.pipeline.streaming import StreamDecoder, StreamEncoder

__all__ = [
    "LOST_TOKEN",
    "StreamDecoder",
    "StreamEncoder",
    "decode",
    "decode_fcs",
    "encode",
    "encode_to_fcs",
    "from_fcs",
    "load_model",
    "to_fcs",
]


def load_model(name_or_path: str | os.PathLike[str] | None = None, *,
               precision: str = "fp32") -> Any:
    """A loaded model (``focalcli.model.FocalCodec``) by bundled or official name, folder or
    config.json path; None: ``$FOCAL_MODEL`` or the bundled ``focal-small``.

    `precision`: fp32 (exact), bf16, mixed or int8 (docs/precision.md). Its attributes used
    here: ``sample_rate_input``/``sample_rate_output`` (Hz), ``token_rate`` (tokens/s),
    ``bits_per_token``, ``causal``, ``name``. ModelProblem (exit code 7) if it cannot load.
    """
    from focalcli.pipeline.codecs import load_model as load

    return load(None if name_or_path is None else str(name_or_path), precision)


class _ArraySource:
    """float32 (channels, n) in memory as an audio source for the pipeline."""

    def __init__(self, audio: np.ndarray, sample_rate: int) -> None:
        sig = np.asarray(audio, dtype=np.float32)
        if sig.ndim == 1:
            sig = sig[None, :]
        if sig.ndim != 2:
            raise ValueError(f"audio must be (channels, samples) or (samples,), not {sig.shape}")
        self.sig = sig
        self.sample_rate = int(sample_rate)
        self.channels = int(sig.shape[0])
        self.num_frames = int(sig.shape[1])
        self.description = f"array {self.sample_rate} Hz {self.channels} ch"

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        for start in range(0, self.num_frames, frames):
            yield self.sig[:, start : start + frames]


def encode(model: Any, audio: np.ndarray, sample_rate: int, *,
           multichannel: bool = False) -> np.ndarray:
    """float32 audio (channels, n) or (n,) at `sample_rate` Hz -> int64 tokens (c, k).

    The audio is resampled to the model's input rate and mixed to mono (c = 1) unless
    `multichannel` (c = channels). k = ``model.num_tokens(n at the input rate)``: for a causal
    model whole chunks (the last zero-padded). The tokens equal those ``focal encode`` stores.
    """
    from focalcli.pipeline.encode import encode_source

    done = encode_source(model, _ArraySource(audio, sample_rate), None, name="audio",
                         multichannel=multichannel, keep_toks=True)
    assert done.toks is not None
    return done.toks


def decode(model: Any, tokens: np.ndarray, *, num_samples: int | None = None,
           sample_rate: int | None = None) -> np.ndarray:
    """int64 tokens (c, k) or (k,), LOST_TOKEN where lost (concealed) -> float32 (c, m).

    The audio is at `sample_rate` Hz (default ``model.sample_rate_output``); m covers every
    token, or is exactly `num_samples` (cut, or padded with zeros): for the length of the
    original, ``focalcli.container.output_length(n, source_rate, sample_rate)``.
    :func:`decode_fcs` does this from the stream's header.
    """
    toks = np.asarray(tokens, dtype=np.int64)
    if toks.ndim == 1:
        toks = toks[None, :]
    with StreamDecoder(model, toks.shape[0], sample_rate) as decoder:
        sig = np.concatenate([decoder.push(toks), decoder.flush()], axis=1)
    if num_samples is not None:
        from focalcli.audio import fit_length

        sig = fit_length(sig, num_samples)
    return sig


def to_fcs(model: Any, tokens: np.ndarray, source_rate: int, num_samples: int, *,
           packet_ms: float | None = None) -> bytes:
    """int64 tokens (c, k) of `model` -> the bytes of a complete .fcs stream.

    `source_rate` (Hz) and `num_samples` (per channel, at `source_rate`): the audio the tokens
    were made from, so decoding restores its rate and exact length. `packet_ms`: packet
    duration (default 4 s).
    """
    from focalcli.pipeline.encode import check_packet_fits, packet_tokens_for
    from focalcli.pipeline.fcs import new_writer

    toks = np.asarray(tokens, dtype=np.int64)
    if toks.ndim == 1:
        toks = toks[None, :]
    packet_tokens = packet_tokens_for(model, packet_ms, False)
    if packet_tokens is not None:
        check_packet_fits(packet_tokens, toks.shape[0])
    buf = io.BytesIO()
    writer = new_writer(buf, model, source_rate=int(source_rate), channels=int(toks.shape[0]),
                        source_frames=int(num_samples), packet_tokens=packet_tokens, live=False)
    writer.write(toks)
    writer.close(num_samples=int(num_samples))
    return buf.getvalue()


def from_fcs(data: bytes | str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The tokens of a .fcs (bytes, or a file path) and what its header says.

    Returns int64 (channels, k) tokens (LOST_TOKEN where damaged; every chained stream
    concatenated) and a dict: model, model_hash, token_space, channels, token_rate,
    bits_per_token, sample_rate_input, sample_rate_output, source_sample_rate, source_samples
    (None if unknown), damaged (bool). StreamInvalid (exit 5) if it is no usable .fcs.
    """
    from focalcli.pipeline.fcs import TokenStream

    raw = _read_bytes(data)
    name = str(data) if not isinstance(data, bytes) else "fcs"
    stream = TokenStream(io.BytesIO(raw), name)
    h = stream.header
    info: dict[str, Any] = {
        "model": h.model_name, "model_hash": h.model_hash, "token_space": h.token_space,
        "channels": h.channels, "token_rate": h.token_rate, "bits_per_token": h.bits_per_token,
        "sample_rate_input": h.sample_rate_input, "sample_rate_output": h.sample_rate_output,
        "source_sample_rate": h.source_sample_rate,
    }
    parts: list[np.ndarray] = []
    total = 0
    while True:
        parts.extend(stream.blocks())
        total += stream.source_samples or 0
        if not stream.next_stream():
            break
    info["source_samples"] = total if stream.source_samples is not None else None
    info["damaged"] = bool(stream.damages)
    toks = (np.concatenate(parts, axis=1) if parts
            else np.zeros((h.channels, 0), dtype=np.int64))
    return toks, info


def encode_to_fcs(model: Any, audio: np.ndarray, sample_rate: int, *,
                  multichannel: bool = False, packet_ms: float | None = None) -> bytes:
    """float32 audio (channels, n) at `sample_rate` Hz -> .fcs bytes, exactly those that
    ``focal encode`` writes for the same samples and options."""
    from focalcli.pipeline.encode import encode_source, packet_tokens_for

    buf = io.BytesIO()
    encode_source(model, _ArraySource(audio, sample_rate), buf, name="audio",
                  multichannel=multichannel,
                  packet_tokens=packet_tokens_for(model, packet_ms, False))
    return buf.getvalue()


def decode_fcs(data: bytes | str | os.PathLike[str], model: Any = None, *,
               sample_rate: int | None = None,
               strict: bool = False) -> tuple[np.ndarray, int]:
    """A .fcs (bytes or a file path) -> (float32 audio (channels, m), its rate in Hz).

    `model`: a loaded model, or None to load the one the stream names (bundled models by
    name). `sample_rate`: output rate (default the model's output rate); the audio lasts
    exactly as long as the encoded original (``focal decode``'s samples). Damage is concealed,
    or refused with `strict` (StreamInvalid).
    """
    from focalcli.audio.sinks import AudioSink
    from focalcli.errors import StreamInvalid
    from focalcli.pipeline.codecs import CodecCache, codec_fits
    from focalcli.pipeline.decode import decode_stream
    from focalcli.pipeline.fcs import TokenStream
    from focalcli.settings import Settings

    raw = _read_bytes(data)
    name = str(data) if not isinstance(data, bytes) else "fcs"
    stream = TokenStream(io.BytesIO(raw), name)
    codecs: CodecCache | None = None
    if model is None:
        codecs = CodecCache(Settings())
        codec = codecs.for_stream(stream.model_name, stream.weights_hash, name,
                                  stream.header.token_space)
    elif codec_fits(model, stream.weights_hash, stream.header.token_space):
        codec = model
    else:
        raise StreamInvalid(f"was made with model {stream.model_name} (weights "
                            f"{stream.weights_hash}), not {model.name} (weights "
                            f"{model.weights_hash})", name)
    stream.check_codec(codec)
    rate = int(sample_rate or codec.sample_rate_output)
    parts: list[np.ndarray] = []

    class _Collect(AudioSink):
        def __init__(self) -> None:
            self.sample_rate = rate
            self.channels = stream.channels

        def write(self, sig: np.ndarray) -> None:
            parts.append(np.array(sig, dtype=np.float32))

    decode_stream(stream, codec, _Collect(), rate, codecs=codecs, strict=strict)
    sig = (np.concatenate(parts, axis=1) if parts
           else np.zeros((stream.channels, 0), dtype=np.float32))
    return sig, rate


def _read_bytes(data: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    from focalcli.errors import InputProblem, describe_os_error

    try:
        return Path(data).read_bytes()
    except FileNotFoundError:
        raise InputProblem("no such file", str(data)) from None
    except OSError as err:
        raise InputProblem(describe_os_error(err), str(data)) from None
