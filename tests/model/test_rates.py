"""Token rate and every length derived from it follow the compressor's downscale_factors.

The catalogue (no torch) and the built model must agree for every catalogued checkpoint and the
bundled model; ``num_tokens`` must be what the encoder really gives; a causal model that
downscales must stream exactly as it codes offline.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.engine import DecoderSession, EncoderSession, decode_tokens, encode_signal
from focalcli.model.catalog import info_from_config
from focalcli.model.codec import FocalCodec
from focalcli.model.registry import BUNDLED_DIR, official_by_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from parity_testutil import catalogue_configs, fill_parameters, twin_config  # noqa: E402

TWINS = {name: twin_config(c) for name, c in catalogue_configs().items()}


def build(config: dict) -> FocalCodec:
    codec = FocalCodec(config).eval()
    fill_parameters(codec.named_parameters())
    return codec


@pytest.mark.parametrize("name", sorted(TWINS))
def test_catalogue_and_model_agree(name: str) -> None:
    codec = build(TWINS[name])
    official = official_by_name(name)
    assert official is not None
    info = info_from_config(name, "official", name, TWINS[name], "")
    for entry in (official, info):
        assert entry.token_rate == codec.token_rate
        assert entry.bitrate_kbps == round(codec.bitrate_kbps, 3)
        assert entry.sample_rate_output == codec.sample_rate_output
        assert entry.latency_ms == codec.latency_ms
    factor = {"focalcodec_25hz": 2, "focalcodec_12_5hz": 4}.get(name, 1)
    assert codec.compression_factor == factor
    assert codec.token_rate == 50 / factor
    assert codec.samples_per_token_input == 320 * factor
    assert codec.samples_per_token_output == codec.decoder.hop_length * factor


def test_bundled_model_catalogue_matches_the_model() -> None:
    from focalcli.model import load_codec

    codec = load_codec("focal-small")
    config = json.loads((BUNDLED_DIR / "focal-small" / "config.json").read_text())
    info = info_from_config("focal-small", "bundled", "", config, "")
    assert (info.token_rate, info.sample_rate_output, info.latency_ms) == (
        codec.token_rate, codec.sample_rate_output, codec.latency_ms)


@torch.inference_mode()
@pytest.mark.parametrize("name", ["focalcodec_50hz", "focalcodec_25hz", "focalcodec_12_5hz"])
def test_num_tokens_is_what_the_encoder_gives(name: str) -> None:
    codec = build(TWINS[name])
    for n in (0, 1, 399, 400, 720, 721, 3200, 6399, 6400, 6401, 13600):
        sig = torch.zeros(1, n) if n else torch.zeros(1, 0)
        toks = encode_signal(codec, sig.numpy())
        assert toks.shape[1] == codec.num_tokens(n), n
    # 4 s: 199 frames at 50 Hz (the reference's unpadded convolutions), not 200
    assert [codec.num_tokens(64000)] == [{1: 199, 2: 100, 4: 50}[codec.compression_factor]]


@torch.inference_mode()
def test_decode_length_follows_the_reference() -> None:
    codec = build(TWINS["focalcodec_50hz"])
    toks = encode_signal(codec, np.zeros((1, 6400), np.float32))
    audio = decode_tokens(codec, toks, num_samples=6401)
    assert audio.shape == (1, 6401)
    np.testing.assert_array_equal(audio[0, -300:], np.full(300, audio[0, toks.shape[1] * 320 - 1]))


def causal_downscaled_twin() -> dict:
    config = copy.deepcopy(TWINS["focalcodec_50hz_4k_causal"])
    config["compressor_config"]["downscale_factors"] = [1, 1, 2]
    config["decompressor_config"]["upscale_factors"] = [2, 1, 1]
    return config


@torch.inference_mode()
def test_causal_downscaled_model_streams_as_it_codes_offline() -> None:
    codec = build(causal_downscaled_twin())
    assert (codec.token_rate, codec.chunk_tokens, codec.chunk_size) == (25.0, 2, 1280)
    sig = np.sin(np.arange(6000) / 7.0).astype(np.float32)[None] * 0.3
    offline = encode_signal(codec, sig)
    assert offline.shape == (1, codec.num_tokens(6000)) == (1, 10)
    with EncoderSession(codec) as enc:
        pieces = [enc.push(sig[:, i : i + 700]) for i in range(0, 6000, 700)]
        streamed = np.concatenate([*pieces, enc.flush()], axis=1)
    np.testing.assert_array_equal(streamed, offline)
    with DecoderSession(codec) as dec:
        audio = np.concatenate([dec.push(offline[:, :3]), dec.push(offline[:, 3:]),
                                dec.flush()], axis=1)
    assert audio.shape == (1, 10 * codec.samples_per_token_output)
    whole, _ = codec.toks_to_sig(torch.from_numpy(offline))
    np.testing.assert_allclose(audio, whole.numpy(), atol=1e-5)


def test_causal_model_refuses_chunks_of_partial_tokens() -> None:
    config = causal_downscaled_twin()
    config["compressor_config"]["downscale_factors"] = [1, 3, 1]
    config["decompressor_config"]["upscale_factors"] = [1, 3, 1]
    with pytest.raises(ValueError, match="whole tokens"):
        FocalCodec(config)
    config["decompressor_config"]["upscale_factors"] = [1, 1, 1]
    with pytest.raises(ValueError, match="undo each other"):
        FocalCodec(config)
