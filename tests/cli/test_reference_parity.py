"""Every catalogued checkpoint codes through the CLI as the reference does.

For a small twin of each (same lengths, rates and codebook; ``parity_testutil``) with weights
rebuilt from their names, `focal encode` must give exactly the reference's tokens and `focal
decode` the reference's audio within 1e-4, with the reference's number of tokens and samples,
for an input of whole 80 ms chunks and one that is not. The reference's outputs were written by
``make_parity_golden.py`` from lucadellalib/focalcodec (``parity/meta.json``).

With ``FOCAL_FULL_PARITY=1`` the same check runs on the full-size checkpoints (the released
configs with the same weight rule; ``parity/full/``): minutes and about 3 GB of memory, so it is
opt-in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run
from parity_testutil import (
    LENGTHS,
    PARITY_DIR,
    SAMPLE_RATE,
    catalogue_configs,
    fill_parameters,
)

from focalcli.container import FcsReader

META = json.loads((PARITY_DIR / "meta.json").read_text())
NAMES = sorted(META["models"])
#: rates the catalogue gives (`focal models`), to hold the twins to the real checkpoints
TOKEN_RATES = {"focalcodec_50hz_2k_causal": 50.0, "focalcodec_50hz_4k_causal": 50.0,
               "focalcodec_50hz_65k_causal": 50.0, "focalcodec_50hz": 50.0,
               "focalcodec_25hz": 25.0, "focalcodec_12_5hz": 12.5}


def test_every_catalogued_checkpoint_has_a_twin() -> None:
    from focalcli.model.registry import OFFICIAL_MODELS

    assert sorted(info.name for info in OFFICIAL_MODELS) == NAMES == sorted(TOKEN_RATES)
    for info in OFFICIAL_MODELS:
        assert info.token_rate == TOKEN_RATES[info.name]


def save_twin(folder: Path, name: str, full: bool = False) -> Path:
    import torch
    from safetensors.torch import save_file

    from focalcli.model.codec import FocalCodec

    if full:
        config = catalogue_configs()[name]
    else:
        config = json.loads((PARITY_DIR / f"{name}.json").read_text())
    codec = FocalCodec(config)
    fill_parameters(codec.named_parameters())
    out = folder / name
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(config))
    with torch.no_grad():
        save_file({k: v.contiguous() for k, v in codec.state_dict().items()},
                  str(out / "model.safetensors"))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_cli_matches_the_reference(name: str, run: Run, tmp_path: Path) -> None:
    check_cli_against_reference(name, run, tmp_path, full=False)


@pytest.mark.skipif(os.environ.get("FOCAL_FULL_PARITY") != "1",
                    reason="full-size checkpoints: set FOCAL_FULL_PARITY=1 (minutes, ~3 GB)")
@pytest.mark.parametrize("name", NAMES)
def test_cli_matches_the_reference_full_size(name: str, run: Run, tmp_path: Path) -> None:
    check_cli_against_reference(name, run, tmp_path, full=True)


def check_cli_against_reference(name: str, run: Run, tmp_path: Path, full: bool) -> None:
    golden_dir = PARITY_DIR / "full" if full else PARITY_DIR
    meta = json.loads((golden_dir / "meta.json").read_text())
    model = save_twin(tmp_path / "models", name, full)
    golden = np.load(golden_dir / f"{name}.npz", allow_pickle=False)
    sig, rate = sf.read(PARITY_DIR / "input.wav", dtype="int16")
    assert rate == SAMPLE_RATE
    env = {"FOCAL_MODEL": str(model)}
    (tmp_path / "in").mkdir()
    for n in LENGTHS:
        sf.write(tmp_path / "in" / f"{n}.wav", sig[:n], SAMPLE_RATE, subtype="PCM_16")
    run("encode", "in", "-d", "enc", env=env, expect=0)
    run("decode", "enc", "-d", "dec", "--bits", "32f", env=env, expect=0)
    for n in LENGTHS:
        with open(tmp_path / "enc" / f"{n}.fcs", "rb") as fh:
            toks, damages, _ = FcsReader(fh).read_all()
        assert not damages
        np.testing.assert_array_equal(toks, golden[f"tokens_{n}"], err_msg=f"{name}, n={n}")
        audio, out_rate = sf.read(tmp_path / "dec" / f"{n}.wav", dtype="float32",
                                  always_2d=True)
        expected = golden[f"audio_{n}"]
        assert out_rate == meta["models"][name]["sample_rate_output"]
        assert audio.T.shape == expected.shape, f"{name}, n={n}"
        np.testing.assert_allclose(audio.T, expected, atol=1e-4, rtol=0,
                                   err_msg=f"{name}, n={n}")

    n = LENGTHS[1]
    info = json.loads(run("info", f"enc/{n}.fcs", "--json", "--verify", env=env,
                          expect=0).stdout)
    record = info[0] if isinstance(info, list) else info
    assert record["token_rate"] == TOKEN_RATES[name]
    assert record["tokens"] == meta["models"][name][str(n)]["tokens"]
    assert record["verified"] is True
