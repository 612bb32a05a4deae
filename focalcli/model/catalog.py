"""``focal models``: what is bundled, what is official, and what is present on this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from focalcli.model.geometry import config_to_geometry
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


def info_from_config(name: str, kind: str, source: str, config: dict, licence: str) -> ModelInfo:
    """Rates, bitrate and latency of a reference-schema config, without building the model.

    The figures are ``config_to_geometry``'s, i.e. what ``FocalCodec(config)`` reports: tokens
    per second 16000 / (samples per encoder frame x prod(compressor downscale_factors)), 50, 25
    or 12.5 Hz for the released models; the bitrate (kbit/s, 3 decimals) is that of all groups.
    """
    geometry = config_to_geometry(config)
    return ModelInfo(
        name=name, kind=kind, source=source,
        bitrate_kbps=round(geometry.bitrate_kbps, 3),
        sample_rate_input=geometry.sample_rate_input,
        sample_rate_output=geometry.sample_rate_output, token_rate=geometry.token_rate,
        codebook_size=geometry.codebook_size, latency_ms=geometry.latency_ms, licence=licence,
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
