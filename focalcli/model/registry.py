"""What focal knows about models: the bundled one(s) and the official FocalCodec checkpoints.

No torch here, so ``focal models`` can list them instantly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"
DEFAULT_MODEL = "focal-small"
HUB_OWNER = "lucadellalib"
#: compute precisions (``focalcli.model.precision``): fp32 is exact, the others store weights
#: in bfloat16 and/or int8. Coding files defaults to fp32; streaming to STREAM_PRECISION,
#: chosen with bench/bench_precision.py (docs/precision.md): the least to read per chunk among
#: the precisions that keep >= 98 % of the bundled model's fp32 tokens (bf16 and mixed do,
#: int8 keeps 96.8 %).
PRECISIONS = ("fp32", "bf16", "mixed", "int8")
FILE_PRECISION = "fp32"
STREAM_PRECISION = "mixed"


@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``focal models``. Rates in Hz, bitrate in kbit/s, latency in ms."""

    name: str
    kind: str  # "bundled" | "official"
    source: str  # folder for bundled models, hub id for official ones
    bitrate_kbps: float
    sample_rate_input: int
    sample_rate_output: int
    token_rate: float
    codebook_size: int
    latency_ms: float | None
    licence: str
    notes: str = ""

    @property
    def causal(self) -> bool:
        return self.latency_ms is not None


def _official(name: str, rate: float, codebook: int, sr_out: int, causal: bool,
              notes: str) -> ModelInfo:
    bits = codebook.bit_length() - 1
    return ModelInfo(
        name=name, kind="official", source=f"{HUB_OWNER}/{name}",
        bitrate_kbps=round(rate * bits / 1000, 3), sample_rate_input=16000,
        sample_rate_output=sr_out, token_rate=rate, codebook_size=codebook,
        latency_ms=80.0 if causal else None,
        licence="Apache-2.0 (code); weights: see the model card on the Hugging Face Hub",
        notes=notes,
    )


OFFICIAL_MODELS: tuple[ModelInfo, ...] = (
    _official("focalcodec_50hz_2k_causal", 50.0, 2048, 24000, True, "Libri-Light, streaming"),
    _official("focalcodec_50hz_4k_causal", 50.0, 4096, 24000, True, "Libri-Light, streaming"),
    _official("focalcodec_50hz_65k_causal", 50.0, 65536, 24000, True, "Libri-Light, streaming"),
    _official("focalcodec_50hz", 50.0, 8192, 16000, False, "LibriTTS-960, offline only"),
    _official("focalcodec_25hz", 25.0, 8192, 16000, False, "LibriTTS-960, offline only"),
    _official("focalcodec_12_5hz", 12.5, 8192, 16000, False, "LibriTTS-960, offline only"),
)


def bundled_names() -> list[str]:
    """Names of the model folders shipped inside the package."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())


def official_by_name(name: str) -> ModelInfo | None:
    """Match ``focalcodec_50hz_4k_causal`` or ``lucadellalib/focalcodec_50hz_4k_causal``."""
    for info in OFFICIAL_MODELS:
        if name in (info.name, info.source):
            return info
    return None
