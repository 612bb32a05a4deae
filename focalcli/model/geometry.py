"""Rates and lengths of a model, read from its reference-schema config without building it.

``config_to_geometry`` takes the ``{role}_name`` / ``{role}_config`` dict that ``FocalCodec``
is built from and returns the figures its properties give (sample rates in Hz, rates in frames
or tokens per second, lengths in samples, bitrate in kbit/s, latency in ms), so ``focal models``
and ``focal info`` can show them without importing torch. Standard library only.

The ``DEFAULT_*`` constants are the defaults of the constructor arguments these figures depend
on; the constructors (``WavLM``, ``FocalEncoder``, ``FocalDecoder``, ``BinarySphericalQuantizer``,
``WaveNeXt``, ``Vocos``) take their defaults from here, so a config that leaves a key out is read
exactly as the model builds it. ``tests/model/test_geometry.py`` builds every known config and
compares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: input sample rate of every encoder in this family (``WavLM.sample_rate``), Hz
SAMPLE_RATE_INPUT_HZ = 16000
#: ``WavLM(frontend=...)``: "conv" (strided convolutions) or "logmel"
DEFAULT_FRONTEND = "conv"
#: ``WavLM(strides=...)``: the convolution front end's strides, 320 samples a frame in all
DEFAULT_STRIDES: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
#: ``WavLM(hop_length=...)``: the log-mel front end's hop, samples
DEFAULT_MEL_HOP_LENGTH = 160
#: mel sub-frames stacked into one encoder frame by the log-mel front end (fixed, not a key)
MEL_STACK = 2
#: ``WavLM(lookahead_size=...)``: frames of look-ahead; a streaming chunk is 1 + this frames
DEFAULT_LOOKAHEAD_FRAMES = 3
#: ``FocalEncoder(downscale_factors=...)``
DEFAULT_DOWNSCALE_FACTORS: tuple[int, ...] = (1, 1, 1)
#: ``BinarySphericalQuantizer(codebook_size=..., num_groups=...)``
DEFAULT_CODEBOOK_SIZE = 4096
DEFAULT_NUM_GROUPS = 1
#: ``WaveNeXt(hop_length=...)`` and ``Vocos(hop_length=...)``: output samples per frame
DEFAULT_WAVENEXT_HOP_LENGTH = 480
DEFAULT_VOCOS_HOP_LENGTH = 320
#: ``causal=`` of the encoder, compressor, decompressor and decoder
DEFAULT_CAUSAL = False

# The feature codec (``focalcli.model.feature_codec``): LPCNet features -> FARGAN.
#: input (and output) samples per token: two 10 ms LPCNet frames at 16 kHz
FEATURE_SAMPLES_PER_TOKEN = 320
FEATURE_FRAMES_PER_TOKEN = 2
#: values per token: 20 LPCNet features per frame
FEATURE_TOKEN_DIM = 40
#: ``LPCNetEncoder(chunk_frames=...)``: tokens per streaming chunk
LPCNET_DEFAULT_CHUNK_FRAMES = 4
#: samples by which the feature codec's output lags its input with no decoder delay: the LPCNet
#: analysis of a frame and FARGAN's synthesis of it at the same output position. Measured: the
#: log-energy envelopes (0.25 ms steps) of 8 dev files against the analysis -> FARGAN output
#: correlate best at 13.3-18.0 ms, median 15.3 ms. (``focalcli.model.fargan.DELAY_SAMPLES``,
#: 576, is Opus's figure against another reference point, not this framing's.)
FARGAN_OUTPUT_LAG_SAMPLES = 240
#: modules that are causal whatever their config says (they have no ``causal`` key)
ALWAYS_CAUSAL = frozenset({"LPCNetEncoder", "FeatureCompressor", "FeatureDecompressor",
                           "FARGANDecoder", "HybridEncoder", "HybridCompressor",
                           "HybridDecompressor", "HybridDecoder"})

_DECODER_HOP_LENGTHS = {"WaveNeXt": DEFAULT_WAVENEXT_HOP_LENGTH, "Vocos": DEFAULT_VOCOS_HOP_LENGTH,
                        "FARGANDecoder": FEATURE_SAMPLES_PER_TOKEN,
                        "HybridDecoder": FEATURE_SAMPLES_PER_TOKEN}
_CAUSAL_ROLES = ("encoder", "compressor", "decompressor", "decoder")


@dataclass(frozen=True)
class Geometry:
    """What a config's rates and lengths are; each field is the ``FocalCodec`` property of the
    same name.

    sample_rate_input, sample_rate_output: Hz. frame_rate: encoder frames per second (50).
    downscale_factors: the compressor's; compression_factor: their product (frames per token).
    samples_per_token_input / _output: samples of one token at either rate. token_rate: tokens
    (frames of G group tokens) per second. bits_per_token: bits of one (group) token;
    num_groups: G tokens per frame; codebook_size: 2 ** bits_per_token. bitrate_kbps: payload
    kbit/s with all groups, unrounded. causal: every streaming role is causal. chunk_size: input
    samples per streaming chunk; chunk_tokens: tokens per chunk. latency_ms: for a causal
    model, chunk_size in ms plus the decompressor's ``delay_tokens`` and the decoder's output
    lag (the feature codec's; 0 for the others), else None.
    """

    sample_rate_input: int
    sample_rate_output: int
    frame_rate: float
    downscale_factors: tuple[int, ...]
    compression_factor: int
    samples_per_token_input: int
    samples_per_token_output: int
    token_rate: float
    bits_per_token: int
    num_groups: int
    codebook_size: int
    bitrate_kbps: float
    causal: bool
    chunk_size: int
    chunk_tokens: int
    latency_ms: float | None


def _role_config(config: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    return config.get(f"{role}_config") or {}


def encoder_samples_per_frame(encoder_config: Mapping[str, Any], name: str | None = None
                              ) -> int:
    """Input samples per encoder frame (``WavLM.downsample_factor``): 320 for the family."""
    if name == "LPCNetEncoder":
        return FEATURE_SAMPLES_PER_TOKEN
    if name == "HybridEncoder":
        return encoder_samples_per_frame(encoder_config.get("wavlm_config") or {})
    frontend = encoder_config.get("frontend", DEFAULT_FRONTEND)
    if frontend == "conv":
        return math.prod(int(s) for s in encoder_config.get("strides", DEFAULT_STRIDES))
    if frontend == "logmel":
        return MEL_STACK * int(encoder_config.get("hop_length", DEFAULT_MEL_HOP_LENGTH))
    raise ValueError(f"frontend must be 'conv' or 'logmel', got {frontend!r}")


def codebook_bits(codebook_size: int) -> int:
    """log2 of a power-of-two codebook size (bits of one token)."""
    bits = int(math.log2(codebook_size))
    if 2**bits != codebook_size:
        raise ValueError(f"codebook_size must be a power of two, got {codebook_size}")
    return bits


def config_to_geometry(config: Mapping[str, Any]) -> Geometry:
    """The rates and lengths of the model ``FocalCodec(config)`` would build.

    Raises ValueError for a decoder name or front end the codec does not know, or a codebook
    size that is not a power of two. It does not check what only building can (widths that
    match, downscale and upscale factors that undo each other).
    """
    enc = _role_config(config, "encoder")
    encoder_name = config.get("encoder_name")
    samples_per_frame = encoder_samples_per_frame(enc, encoder_name)
    if config.get("compressor_name") in ("FeatureCompressor", "HybridCompressor"):
        downscale: tuple[int, ...] = (1,)
    else:
        downscale = tuple(int(f) for f in _role_config(config, "compressor").get(
            "downscale_factors", DEFAULT_DOWNSCALE_FACTORS))
    compression = math.prod(downscale)
    quantizer = _role_config(config, "quantizer")
    codebook_size = int(quantizer.get("codebook_size", DEFAULT_CODEBOOK_SIZE))
    bits = codebook_bits(codebook_size)
    groups = int(quantizer.get("num_groups", DEFAULT_NUM_GROUPS))
    decoder_name = config.get("decoder_name")
    if decoder_name not in _DECODER_HOP_LENGTHS:
        raise ValueError(f"decoder_name must be one of {sorted(_DECODER_HOP_LENGTHS)}, "
                         f"got {decoder_name!r}")
    hop_output = int(_role_config(config, "decoder").get(
        "hop_length", _DECODER_HOP_LENGTHS[decoder_name]))
    causal = all(config.get(f"{role}_name") in ALWAYS_CAUSAL
                 or bool(_role_config(config, role).get("causal", DEFAULT_CAUSAL))
                 for role in _CAUSAL_ROLES)
    if encoder_name == "LPCNetEncoder":
        chunk_frames = int(enc.get("chunk_frames", LPCNET_DEFAULT_CHUNK_FRAMES))
    elif encoder_name == "HybridEncoder":
        chunk_frames = 1 + int((enc.get("wavlm_config") or {}).get("lookahead_size",
                                                                   DEFAULT_LOOKAHEAD_FRAMES))
    else:
        chunk_frames = 1 + int(enc.get("lookahead_size", DEFAULT_LOOKAHEAD_FRAMES))
    lag = 0  # input samples by which the output lags: decompressor delay and decoder lag
    decompressor = _role_config(config, "decompressor")
    if config.get("decompressor_name") == "HybridDecompressor":
        decompressor = decompressor.get("feature_config") or {}
    if config.get("decompressor_name") in ("FeatureDecompressor", "HybridDecompressor"):
        lag += int(decompressor.get("delay_tokens", 0)) * (samples_per_frame * compression)
    if decoder_name in ("FARGANDecoder", "HybridDecoder"):
        lag += FARGAN_OUTPUT_LAG_SAMPLES
    sr_in = SAMPLE_RATE_INPUT_HZ
    per_token_in = samples_per_frame * compression
    token_rate = sr_in / per_token_in
    chunk_size = samples_per_frame * chunk_frames
    return Geometry(
        sample_rate_input=sr_in,
        sample_rate_output=sr_in * hop_output // samples_per_frame,
        frame_rate=sr_in / samples_per_frame,
        downscale_factors=downscale,
        compression_factor=compression,
        samples_per_token_input=per_token_in,
        samples_per_token_output=hop_output * compression,
        token_rate=token_rate,
        bits_per_token=bits,
        num_groups=groups,
        codebook_size=codebook_size,
        bitrate_kbps=token_rate * bits * groups / 1000,
        causal=causal,
        chunk_size=chunk_size,
        chunk_tokens=chunk_frames // compression,
        latency_ms=1000.0 * (chunk_size + lag) / sr_in if causal else None,
    )

