"""The feature codec (LPCNet analysis -> ladder -> FARGAN) through the command line and the API:
a tiny random model of that architecture, passed as a folder with --model.

encode / info / decode round trips name the model in the .fcs header and keep the input's
length; the ladder's --bitrate picks a rung; stream with sync framing writes what encode
writes, and play decodes what decode does. Needs the real analysis module (a subprocess
cannot use a test double).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("focalcli.model.lpcnet_analysis") is None,
    reason="focalcli.model.lpcnet_analysis (the LPCNet analysis) is not there")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from focalcli.model.testing import save_tiny_feature_model, tiny_feature_config

    return save_tiny_feature_model(tmp_path_factory.mktemp("models"), seed=2,
                                   name="tiny-fargan", config=tiny_feature_config(
                                       chunk_frames=4, delay_tokens=1))


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.63 s (not whole chunks) of a voiced, gliding tone with noise, 16 kHz PCM."""
    rng = np.random.default_rng(0)
    t = np.arange(26080) / 16000
    f0 = 120 + 40 * t
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / 16000) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.02 * rng.standard_normal(t.size)
    path = tmp_path_factory.mktemp("audio") / "voice.wav"
    sf.write(path, x.astype(np.float32), 16000, subtype="PCM_16")
    return path


def info(run: Run, path: Path) -> dict:
    return json.loads(run("info", "--json", path, expect=0).stdout)


def test_encode_info_decode_round_trip(run: Run, model: Path, voice: Path,
                                       tmp_path: Path) -> None:
    run("encode", "--model", model, voice, "v.fcs", expect=0)
    got = info(run, tmp_path / "v.fcs")
    assert got["model"] == "tiny-fargan" and got["integrity"] == "ok"
    assert got["groups"] == 4 and got["rungs"] == [32] and got["token_rate"] == 50
    assert got["sample_rate_input"] == got["sample_rate_output"] == 16000
    assert got["tokens"] == 4 * -(-26080 // 1280)  # whole chunks of 4 tokens
    run("decode", "--model", model, "v.fcs", "v.wav", expect=0)
    out, rate = sf.read(tmp_path / "v.wav", dtype="float32")
    assert rate == 16000 and out.shape == (26080,)
    # 1 skipped token + FARGAN's 5 priming frames are silent, then there is sound
    assert not out[: 320 + 800].any() and np.abs(out[1120:]).max() > 0
    text = run("info", "v.fcs", expect=0).stdout.decode()
    assert "tiny-fargan" in text


def test_a_rung_is_chosen_and_decodes_to_the_same_length(run: Run, model: Path, voice: Path,
                                                         tmp_path: Path) -> None:
    run("encode", "--model", model, "--bitrate", "0.4", voice, "low.fcs", expect=0)
    assert info(run, tmp_path / "low.fcs")["rungs"] == [8]
    run("encode", "--model", model, "--bitrate", "1.6,0.5=0.4,1=0.8", "--packet-ms", "80",
        voice, "sched.fcs", expect=0)
    assert info(run, tmp_path / "sched.fcs")["rungs"] == [8, 16, 32]
    for name in ("low", "sched"):
        run("decode", "--model", model, f"{name}.fcs", f"{name}.wav", expect=0)
        assert sf.info(tmp_path / f"{name}.wav").frames == 26080
    low = sf.read(tmp_path / "low.wav")[0]
    sched = sf.read(tmp_path / "sched.wav")[0]
    assert not np.array_equal(low, sched)


def test_stream_and_play_agree_with_encode_and_decode(run: Run, model: Path, voice: Path,
                                                      tmp_path: Path) -> None:
    run("stream", "--model", model, "-i", voice, "-o", "s.fcs", "--framing", "sync",
        "--precision", "fp32", expect=0)
    run("encode", "--model", model, "--packet-ms", "80", voice, "e.fcs", expect=0)
    assert (tmp_path / "s.fcs").read_bytes() == (tmp_path / "e.fcs").read_bytes()
    run("play", "--model", model, "--precision", "fp32", "s.fcs", "--output", "p.wav",
        expect=0)
    run("decode", "--model", model, "s.fcs", "d.wav", expect=0)
    assert (tmp_path / "p.wav").read_bytes() == (tmp_path / "d.wav").read_bytes()


def test_the_api_codes_as_the_cli(run: Run, model: Path, voice: Path, tmp_path: Path) -> None:
    import focalcli

    codec = focalcli.load_model(str(model))
    audio, rate = sf.read(voice, dtype="float32")
    toks = focalcli.encode(codec, audio, rate)
    assert toks.shape == (1, 4 * -(-26080 // 1280), 4)
    sig = focalcli.decode(codec, toks, num_samples=audio.size)
    assert sig.shape[-1] == 26080 and np.isfinite(sig).all()
    run("encode", "--model", model, voice, "v.fcs", expect=0)
    got, meta = focalcli.from_fcs(tmp_path / "v.fcs")
    np.testing.assert_array_equal(got.reshape(toks.shape), toks)
    assert meta["model"] == "tiny-fargan"
