"""``config_to_geometry`` (no torch) gives what the built model's properties give, for every
config focal knows: the reference configs (tests/model/configs and, where present, the shared
spec's), the catalogue's 25 and 12.5 Hz configs, the bundled models, and configs that leave the
rate-setting keys to the constructors' defaults.

Full-size models are built on the meta device (no weights are allocated); a model whose
construction computes values (the log-mel filterbank) is built on the CPU, which the small
bundled ones allow.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from focalcli.model.catalog import info_from_config
from focalcli.model.codec import FocalCodec
from focalcli.model.geometry import Geometry, config_to_geometry
from focalcli.model.registry import BUNDLED_DIR

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from parity_testutil import catalogue_configs  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED_CONFIGS = HERE.parents[2] / "shared" / "spec" / "configs"
ROLES = ("encoder", "compressor", "quantizer", "decompressor", "decoder")


def _defaults_only(decoder: str) -> dict[str, Any]:
    """Names only: every constructor argument at its default."""
    names = ("WavLM", "FocalEncoder", "BinarySphericalQuantizer", "FocalDecoder", decoder)
    return {f"{role}_name": name for role, name in zip(ROLES, names, strict=True)}


def _variants() -> dict[str, dict[str, Any]]:
    out = {"defaults_wavenext": _defaults_only("WaveNeXt"),
           "defaults_vocos": _defaults_only("Vocos")}
    causal = json.loads((HERE / "configs" / "50hz_4k_causal.json").read_text())
    down = copy.deepcopy(causal)  # a causal model at 25 Hz: 2 tokens a chunk
    down["compressor_config"]["downscale_factors"] = [1, 1, 2]
    down["decompressor_config"]["upscale_factors"] = [2, 1, 1]
    out["causal_25hz"] = down
    bare = copy.deepcopy(causal)  # rate keys left to the defaults (strides, look-ahead, hop)
    for key in ("strides", "lookahead_size"):
        bare["encoder_config"].pop(key, None)
    bare["decoder_config"].pop("hop_length", None)
    bare["quantizer_config"] = {}
    out["causal_bare"] = bare
    grouped = json.loads((HERE / "configs" / "tiny_causal.json").read_text())
    bits = (int(grouped["quantizer_config"].get("codebook_size", 4096)).bit_length() - 1)
    grouped["quantizer_config"]["num_groups"] = 3
    grouped["compressor_config"]["output_dim"] = 3 * bits
    grouped["decompressor_config"]["input_dim"] = 3 * bits
    out["tiny_causal_3_groups"] = grouped
    return out


def known_configs() -> dict[str, dict[str, Any]]:
    configs: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    paths = sorted((HERE / "configs").glob("*.json"))
    if SHARED_CONFIGS.is_dir():
        paths += sorted(SHARED_CONFIGS.glob("*.json"))
    for path in paths:
        text = path.read_text()
        if text not in seen:  # the spec's copies are the same files
            seen.add(text)
            configs[f"{path.parent.parent.name}/{path.stem}"] = json.loads(text)
    for name, config in catalogue_configs().items():
        if json.dumps(config, sort_keys=True) not in {json.dumps(c, sort_keys=True)
                                                      for c in configs.values()}:
            configs[f"catalogue/{name}"] = config
    for folder in sorted(p.parent for p in BUNDLED_DIR.glob("*/config.json")):
        configs[f"bundled/{folder.name}"] = json.loads((folder / "config.json").read_text())
    configs.update({f"variant/{k}": v for k, v in _variants().items()})
    return configs


CONFIGS = known_configs()


def build(config: dict[str, Any]) -> FocalCodec:
    try:
        with torch.device("meta"):
            return FocalCodec(config)
    except RuntimeError:  # construction computes a value (a filterbank): build it for real
        return FocalCodec(config)


def test_every_kind_of_config_is_covered() -> None:
    kinds = {name.split("/")[0] for name in CONFIGS}
    assert {"model", "catalogue", "bundled", "variant"} <= kinds
    assert {"catalogue/focalcodec_25hz", "catalogue/focalcodec_12_5hz"} <= set(CONFIGS)
    assert any(config_to_geometry(c).num_groups > 1 for c in CONFIGS.values())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_geometry_is_what_the_model_reports(name: str) -> None:
    config = CONFIGS[name]
    geometry = config_to_geometry(config)
    codec = build(config)
    for field in dataclasses.fields(Geometry):
        want = getattr(codec, field.name)
        got = getattr(geometry, field.name)
        assert got == want, f"{name}: {field.name} is {got!r}, the model says {want!r}"
        assert type(got) is type(want), f"{name}: {field.name} type {type(got)} vs {type(want)}"
    info = info_from_config(name, "bundled", "", config, "")
    assert (info.token_rate, info.sample_rate_input, info.sample_rate_output, info.latency_ms,
            info.codebook_size) == (codec.token_rate, codec.sample_rate_input,
                                    codec.sample_rate_output, codec.latency_ms,
                                    codec.codebook_size)
    assert info.bitrate_kbps == round(codec.bitrate_kbps, 3)


def test_released_rates() -> None:
    """The figures of the released checkpoints, spelled out (a regression that moves both the
    geometry and the model the same way still fails here)."""
    catalogue = catalogue_configs()
    rates = {name: config_to_geometry(c) for name, c in catalogue.items()}
    assert [rates[n].token_rate for n in ("focalcodec_50hz", "focalcodec_25hz",
                                          "focalcodec_12_5hz")] == [50.0, 25.0, 12.5]
    causal = rates["focalcodec_50hz_4k_causal"]
    assert (causal.chunk_size, causal.chunk_tokens, causal.latency_ms) == (1280, 4, 80.0)
    assert (causal.sample_rate_output, causal.bitrate_kbps) == (24000, 0.6)
    assert rates["focalcodec_12_5hz"].latency_ms is None
    assert rates["focalcodec_12_5hz"].samples_per_token_input == 1280
    defaults = config_to_geometry(_defaults_only("WaveNeXt"))
    assert (defaults.sample_rate_output, defaults.compression_factor, defaults.causal) == (
        24000, 1, False)


def test_bad_configs_are_refused() -> None:
    config = _defaults_only("Vocos")
    with pytest.raises(ValueError, match="decoder_name"):
        config_to_geometry({**config, "decoder_name": "HiFiGAN"})
    with pytest.raises(ValueError, match="power of two"):
        config_to_geometry({**config, "quantizer_config": {"codebook_size": 3000}})
    with pytest.raises(ValueError, match="frontend"):
        config_to_geometry({**config, "encoder_config": {"frontend": "mfcc"}})


def test_geometry_and_catalogue_import_no_torch() -> None:
    code = ("import sys, focalcli.model.geometry, focalcli.model.catalog; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
