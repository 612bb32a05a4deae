"""``focal models``: what is bundled, what is official, and what is present on this machine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from focalcli.model.loading import ModelLoadError, download, read_config
from focalcli.model.registry import (
    BUNDLED_DIR,
    OFFICIAL_MODELS,
    ModelInfo,
    bundled_names,
    official_by_name,
)


@dataclass(frozen=True)
class ListedModel:
    info: ModelInfo
    present_locally: bool


#: defaults of the modules' constructors (WavLM, WaveNeXt / Vocos, FocalEncoder) for the keys that
#: set the rates, so a config that leaves one out is read as the model builds it; a test builds
#: every known config and checks these figures against the model's own properties
_DEFAULT_STRIDES = (5, 2, 2, 2, 2, 2, 2)
_DEFAULT_MEL_HOP = 160
_DEFAULT_LOOKAHEAD = 3
_DEFAULT_HOP = {"WaveNeXt": 480, "Vocos": 320}
_DEFAULT_DOWNSCALE = (1, 1, 1)
_SAMPLE_RATE_INPUT = 16000


def info_from_config(name: str, kind: str, source: str, config: dict, licence: str) -> ModelInfo:
    """Derive rates, bitrate and latency from a reference-schema config without building it.

    Tokens per second = 16000 / (prod(encoder strides) x prod(compressor downscale_factors)):
    50, 25 or 12.5 Hz for the released models. The log-mel front end makes 50 Hz frames too.
    """
    enc = config.get("encoder_config", {})
    comp = config.get("compressor_config", {})
    dec = config.get("decoder_config", {})
    hop_frame = math.prod(enc.get("strides", _DEFAULT_STRIDES))
    if enc.get("frontend") == "logmel":  # two mel hops per frame
        hop_frame = 2 * int(enc.get("hop_length", _DEFAULT_MEL_HOP))
    compression = math.prod(comp.get("downscale_factors", _DEFAULT_DOWNSCALE))
    token_rate = _SAMPLE_RATE_INPUT / (hop_frame * compression)
    codebook = int(config.get("quantizer_config", {}).get("codebook_size", 4096))
    hop_out = int(dec.get("hop_length", _DEFAULT_HOP.get(config.get("decoder_name", ""), 320)))
    sr_out = _SAMPLE_RATE_INPUT * hop_out // hop_frame
    causal = all(config.get(f"{r}_config", {}).get("causal", False)
                 for r in ("encoder", "compressor", "decompressor", "decoder"))
    chunk = hop_frame * (1 + int(enc.get("lookahead_size", _DEFAULT_LOOKAHEAD)))
    return ModelInfo(
        name=name, kind=kind, source=source,
        bitrate_kbps=round(token_rate * (codebook.bit_length() - 1) / 1000, 3),
        sample_rate_input=_SAMPLE_RATE_INPUT, sample_rate_output=sr_out, token_rate=token_rate,
        codebook_size=codebook,
        latency_ms=1000 * chunk / _SAMPLE_RATE_INPUT if causal else None,
        licence=licence,
    )


def _bundled_licence(folder: Path) -> str:
    card = folder / "MODEL_CARD.md"
    if card.is_file():
        for line in card.read_text().splitlines():
            if line.lower().startswith("licence:") or line.lower().startswith("license:"):
                return line.split(":", 1)[1].strip()
    return "see MODEL_CARD.md"


def _in_hub_cache(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id=repo, filename="model.safetensors")
    return isinstance(found, str)


def list_models() -> list[ListedModel]:
    """Bundled models first, then the official checkpoints (present if in the hub cache)."""
    out = []
    for name in bundled_names():
        folder = BUNDLED_DIR / name
        info = info_from_config(name, "bundled", str(folder), read_config(folder / "config.json"),
                                _bundled_licence(folder))
        out.append(ListedModel(info, (folder / "model.safetensors").is_file()))
    out += [ListedModel(info, _in_hub_cache(info.source)) for info in OFFICIAL_MODELS]
    return out


def pull_model(name: str) -> Path:
    """Download an official model (or any hub id) into the Hugging Face cache; return its folder."""
    info = official_by_name(name)
    repo = info.source if info else name
    if info is None and "/" not in name:
        raise ModelLoadError(f"{name}: not an official model name or hub id (see `focal models`)")
    config_path, _ = download(repo)
    return config_path.parent
