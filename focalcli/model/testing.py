"""Tiny random models for tests: same architecture as the released ones, a few hundred k params."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_CONFIG: dict[str, Any] = {
    "encoder_name": "WavLM",
    "encoder_config": {
        "hidden_dims": [16] * 7, "num_layers": 1, "dim": 32, "ffn_dim": 64, "num_heads": 2,
        "max_cached_steps": 0, "conv_pos": 8, "conv_pos_groups": 4, "causal": True,
        "window_size": 16, "lookahead_size": 3,
    },
    "compressor_name": "FocalEncoder",
    "compressor_config": {
        "input_dim": 32, "output_dim": 8, "hidden_dims": [32], "downscale_factors": [1],
        "focal_window": 3, "focal_level": 2, "focal_factor": 2, "causal": True,
        "window_size": 8,
    },
    "quantizer_name": "BinarySphericalQuantizer",
    "quantizer_config": {"codebook_size": 256},
    "decompressor_name": "FocalDecoder",
    "decompressor_config": {
        "input_dim": 8, "output_dim": 32, "hidden_dims": [32], "upscale_factors": [1],
        "focal_window": 3, "focal_level": 2, "focal_factor": 2, "causal": True,
        "window_size": 8, "last_window_size": 8, "lookahead_size": 3,
    },
    "decoder_name": "WaveNeXt",
    "decoder_config": {
        "input_dim": 32, "num_layers": 1, "dim": 32, "ffn_dim": 64, "hop_length": 320,
        "causal": True,
    },
}


def save_tiny_model(folder: Path, seed: int = 0, name: str = "tiny-test",
                    config: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` of a random model into ``folder/name``.

    The decoder head is scaled down so the random output stays well inside [-1, 1].
    Returns the model folder (pass it to ``--model``).
    """
    import torch
    from safetensors.torch import save_file

    from focalcli.model.codec import FocalCodec

    config = config or TINY_CONFIG
    torch.manual_seed(seed)
    codec = FocalCodec(config)
    with torch.no_grad():
        codec.decoder.head.proj.weight.mul_(0.1)
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()},
              str(out / "model.safetensors"))
    return out


def tiny_grouped_config(groups: int = 4) -> dict[str, Any]:
    """TINY_CONFIG with a bitrate ladder: ``groups`` groups of 8 bits per frame (the
    compressor's output and the decompressor's input grown to 8 x groups)."""
    config: dict[str, Any] = json.loads(json.dumps(TINY_CONFIG))
    config["quantizer_config"] = {"codebook_size": 256, "num_groups": groups}
    config["compressor_config"]["output_dim"] = 8 * groups
    config["decompressor_config"]["input_dim"] = 8 * groups
    return config


#: a tiny feature codec (``focalcli.model.feature_codec``): LPCNet analysis as configured by
#: default, 4 groups of 8 bits, small blocks and a small FARGAN
TINY_FEATURE_FARGAN: dict[str, Any] = {
    "pitch_embed_dim": 4, "cond_dense1_dim": 8, "cond_conv_dim": 8, "cond_dim": 8,
    "fwc0_dim": 16, "gru_dims": [12, 8, 8], "skip_dim": 8,
}


def tiny_feature_config(chunk_frames: int = 4, delay_tokens: int = 0,
                        groups: int = 4, scalars: list[list[float]] | None = None
                        ) -> dict[str, Any]:
    """A feature-codec config with ``groups`` groups of 8 bits, ``chunk_frames`` tokens per
    chunk and a decoder delay of ``delay_tokens``; FARGAN at ``TINY_FEATURE_FARGAN``'s sizes;
    ``scalars``: scalar fields (``[index, lo, hi, bits]``) leading group 0."""
    width = 8 * groups
    extra: dict[str, Any] = {"scalars": scalars} if scalars else {}
    return {
        "encoder_name": "LPCNetEncoder",
        "encoder_config": {"chunk_frames": chunk_frames},
        "compressor_name": "FeatureCompressor",
        "compressor_config": {"input_dim": 40, "output_dim": width, "dim": 16, "gru_dim": 16,
                              **({"group_dim": 8} | extra if scalars else {})},
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": 256, "num_groups": groups},
        "decompressor_name": "FeatureDecompressor",
        "decompressor_config": {"input_dim": width, "output_dim": 40, "dim": 16, "gru_dim": 16,
                                "delay_tokens": delay_tokens, **extra},
        "decoder_name": "FARGANDecoder",
        "decoder_config": {"fargan_config": dict(TINY_FEATURE_FARGAN),
                           "skip_tokens": delay_tokens},
    }


def save_tiny_feature_model(folder: Path, seed: int = 0, name: str = "tiny-feature",
                            config: dict[str, Any] | None = None) -> Path:
    """Write a random feature codec (``tiny_feature_config()`` unless given; or a hybrid
    ladder's, ``tiny_hybrid_config()``) as a model folder.

    FARGAN's gain is lowered (bias -2) so its random output stays well inside [-1, 1].
    Returns the folder (pass it to ``--model``).
    """
    import torch
    from safetensors.torch import save_file

    from focalcli.model.codec import FocalCodec

    config = config or tiny_feature_config()
    torch.manual_seed(seed)
    codec = FocalCodec(config)
    with torch.no_grad():
        fargan = codec.decoder.fargan  # FARGANDecoder's FARGAN, or the hybrid's FARGANDecoder
        getattr(fargan, "fargan", fargan).sig.gain_dense.bias.fill_(-2.0)
        vocos = getattr(codec.decoder, "vocos", None)  # the hybrid's base vocoder
        if vocos is not None:
            vocos.head.proj.weight.mul_(0.1)
    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()},
              str(out / "model.safetensors"))
    return out


#: ``TINY_CONFIG``'s decoder as a Vocos (the hybrid ladder's base vocoder must be one)
TINY_VOCOS: dict[str, Any] = {"input_dim": 32, "num_layers": 1, "dim": 32, "ffn_dim": 64,
                              "n_fft": 640, "hop_length": 320, "causal": True}


def tiny_base_config() -> dict[str, Any]:
    """``TINY_CONFIG`` with ``TINY_VOCOS``: the base model a tiny hybrid ladder extends."""
    config: dict[str, Any] = json.loads(json.dumps(TINY_CONFIG))
    config["decoder_name"] = "Vocos"
    config["decoder_config"] = dict(TINY_VOCOS)
    return config


def tiny_hybrid_config(delay_tokens: int = 2, groups: int = 4,
                       scalars: list[list[float]] | None = None,
                       warmup_tokens: int | None = None) -> dict[str, Any]:
    """A hybrid ladder (``focalcli.model.hybrid``) on ``tiny_base_config()``: group 0 is the
    base model's 8-bit token, ``groups`` - 1 more groups of 8 bits from LPCNet features, with
    ``scalars`` (default: 3 bits of pitch) leading group 1; FARGAN at ``TINY_FEATURE_FARGAN``."""
    base = tiny_base_config()
    scalars = [[18, -1.55, 1.55, 3]] if scalars is None else scalars
    rest = 8 * (groups - 1)
    return {
        "encoder_name": "HybridEncoder",
        "encoder_config": {"wavlm_config": base["encoder_config"]},
        "compressor_name": "HybridCompressor",
        "compressor_config": {
            "focal_config": base["compressor_config"],
            "feature_config": {"input_dim": 40 + 8, "output_dim": rest, "dim": 16,
                               "gru_dim": 16, "group_dim": 8, "scalars": scalars}},
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": 256, "num_groups": groups},
        "decompressor_name": "HybridDecompressor",
        "decompressor_config": {
            "focal_config": base["decompressor_config"],
            "feature_config": {"input_dim": 8 * groups, "output_dim": 40, "dim": 16,
                               "gru_dim": 16, "delay_tokens": delay_tokens,
                               "scalars": scalars},
            **({"warmup_tokens": warmup_tokens} if warmup_tokens is not None else {})},
        "decoder_name": "HybridDecoder",
        "decoder_config": {"vocos_config": base["decoder_config"],
                           "fargan_config": dict(TINY_FEATURE_FARGAN),
                           "skip_tokens": delay_tokens},
    }
