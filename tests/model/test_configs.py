"""The released configurations build with exactly the reference's keys, shapes and sizes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model import load_codec
from focalcli.model.codec import FocalCodec

HERE = Path(__file__).parent
CONFIGS = HERE / "configs"
PARAM_COUNTS = json.loads((HERE / "param_counts.json").read_text())


def reference_keys() -> dict[str, list[int]]:
    keys = {}
    for line in (HERE / "keys_4k_causal.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape, _ = line.split("\t")
        keys[name] = json.loads(shape)
    return keys


def build(name: str) -> FocalCodec:
    torch.manual_seed(0)
    return FocalCodec(json.loads((CONFIGS / f"{name}.json").read_text())).eval()


@pytest.mark.parametrize("name", ["50hz_2k_causal", "50hz_4k_causal", "50hz_65k_causal",
                                  "50hz_noncausal"])
def test_parameter_counts_match_reference(name):
    codec = FocalCodec(json.loads((CONFIGS / f"{name}.json").read_text()))
    expected = PARAM_COUNTS[name]
    assert codec.num_parameters() == {**expected["per_module"], "quantizer": 0}
    assert sum(codec.num_parameters().values()) == expected["total"]
    assert len(codec.state_dict()) == expected["nkeys"]


def save_and_reload(codec: FocalCodec, folder: Path) -> FocalCodec:
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(codec.config))
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()},
              str(folder / "model.safetensors"))
    return load_codec(str(folder))


@torch.inference_mode()
def test_official_4k_causal_keys_and_strict_round_trip(tmp_path):
    codec = build("50hz_4k_causal")
    shapes = {k: list(v.shape) for k, v in codec.state_dict().items()}
    assert shapes == reference_keys()
    assert (codec.sample_rate_output, codec.latency_ms, codec.bits_per_token) == (24000, 80.0, 12)
    sig = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 2560)).astype("f4") * .1)
    toks, _ = codec.sig_to_toks(sig)
    audio, _ = codec.toks_to_sig(toks)
    reloaded = save_and_reload(codec, tmp_path / "4k")
    del codec
    toks2, _ = reloaded.sig_to_toks(sig)
    np.testing.assert_array_equal(toks2.numpy(), toks.numpy())
    np.testing.assert_array_equal(reloaded.toks_to_sig(toks)[0].numpy(), audio.numpy())
    assert audio.shape == (1, 2 * 1920)


@torch.inference_mode()
def test_official_noncausal_round_trip(tmp_path):
    codec = build("50hz_noncausal")
    assert not codec.causal and codec.sample_rate_output == 16000
    sig = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 8000)).astype("f4") * .1)
    toks, _ = codec.sig_to_toks(sig)
    audio, _ = codec.toks_to_sig(toks)
    assert toks.shape == (1, 24) and int(toks.max()) < 8192
    assert audio.shape == (1, 24 * 320) and torch.isfinite(audio).all()
    reloaded = save_and_reload(codec, tmp_path / "nc")
    np.testing.assert_array_equal(reloaded.sig_to_toks(sig)[0].numpy(), toks.numpy())
