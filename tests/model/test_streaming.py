"""Streaming equals offline whatever the piece sizes; state stays bounded."""

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from focalcli.engine import DecoderSession, EncoderSession, decode_tokens, encode_signal
from focalcli.model import load_codec
from focalcli.model.testing import TINY_CONFIG, save_tiny_model

ABSOLUTE_PHASE_VOCOS = {
    "input_dim": 32, "num_layers": 1, "dim": 32, "ffn_dim": 64, "n_fft": 960,
    "hop_length": 320, "causal": True, "absolute_phase": True,
}


HARMONIC_VOCOS = {**ABSOLUTE_PHASE_VOCOS, "absolute_phase": False, "harmonics": 24}


@pytest.fixture(scope="module", params=["conv", "logmel", "logmel+vocos-absolute-phase",
                                        "logmel+vocos-harmonic"])
def codec(request, tmp_path_factory):
    """The tiny model with each encoder front end, and with the stateful Vocos heads."""
    config = copy.deepcopy(TINY_CONFIG)
    frontend, _, decoder = request.param.partition("+")
    config["encoder_config"]["frontend"] = frontend
    if decoder:
        config["decoder_name"] = "Vocos"
        config["decoder_config"] = (ABSOLUTE_PHASE_VOCOS if decoder.endswith("phase")
                                    else HARMONIC_VOCOS)
    folder = save_tiny_model(tmp_path_factory.mktemp("m"), seed=1, config=config)
    return load_codec(str(folder))


@pytest.fixture(scope="module")
def speechlike() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    sig = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (sig + 0.05 * rng.standard_normal(t.size)).astype(np.float32)[None]


@pytest.fixture(scope="module")
def offline(codec, speechlike):
    """The whole signal through the model in one call (no sessions involved)."""
    padded = np.pad(speechlike, ((0, 0), (0, -speechlike.shape[1] % codec.chunk_size)))
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(torch.from_numpy(padded))
        audio, _ = codec.toks_to_sig(toks)
    return toks.numpy(), audio.numpy()


def cut(n: int, sizes: list[int]) -> list[tuple[int, int]]:
    bounds, start, i = [], 0, 0
    while start < n:
        stop = min(n, start + sizes[i % len(sizes)])
        bounds.append((start, stop))
        start, i = stop, i + 1
    return bounds


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=8))
def test_encoder_pieces_equal_offline(codec, speechlike, offline, sizes):
    enc = EncoderSession(codec)
    parts = [enc.push(speechlike[:, a:b]) for a, b in cut(speechlike.shape[1], sizes)]
    np.testing.assert_array_equal(np.concatenate([*parts, enc.flush()], axis=1), offline[0])


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 13), min_size=1, max_size=8))
def test_decoder_groupings_equal_offline(codec, offline, sizes):
    toks, audio = offline
    dec = DecoderSession(codec)
    parts = [dec.push(toks[:, a:b]) for a, b in cut(toks.shape[1], sizes)]
    np.testing.assert_allclose(np.concatenate([*parts, dec.flush()], axis=1), audio, atol=1e-5)


def test_output_arrives_as_soon_as_a_chunk_is_complete(codec, speechlike):
    enc, dec = EncoderSession(codec), DecoderSession(codec)
    assert enc.push(speechlike[:, : codec.chunk_size - 1]).shape == (1, 0)
    toks = enc.push(speechlike[:, codec.chunk_size - 1 : codec.chunk_size])
    assert toks.shape == (1, codec.chunk_tokens)
    assert dec.push(toks[:, :3]).shape == (1, 0)
    assert dec.push(toks[:, 3:]).shape == (1, codec.chunk_tokens * codec.samples_per_token_output)


def test_batch_of_streams_equals_each_alone(codec, speechlike):
    other = np.roll(speechlike, 777, axis=1) * 0.5
    both = encode_signal(codec, np.concatenate([speechlike, other]))
    np.testing.assert_array_equal(both[1:], encode_signal(codec, other))
    np.testing.assert_array_equal(both[:1], encode_signal(codec, speechlike))
    audio = decode_tokens(codec, both)
    np.testing.assert_allclose(audio[1:], decode_tokens(codec, both[1:]), atol=1e-5)


def test_state_size_is_bounded(codec):
    chunk = codec.chunk_size
    rng = np.random.default_rng(3)
    enc, dec = EncoderSession(codec), DecoderSession(codec)
    sizes = {}
    done = 0
    for target in (100, 10_000):
        while done < target:
            n = min(target - done, 1000)
            toks = enc.push(0.1 * rng.standard_normal((1, n * chunk)).astype(np.float32))
            dec.push(toks)
            done += n
        sizes[target] = (enc.state_numel(), dec.state_numel())
    assert sizes[100] == sizes[10_000]
    assert sizes[100][0] > 0 and sizes[100][1] > 0


def test_flush_pads_the_last_chunk_and_resets(codec, speechlike):
    enc = EncoderSession(codec)
    first = np.concatenate([enc.push(speechlike[:, :1000]), enc.flush()], axis=1)
    assert first.shape == (1, codec.chunk_tokens)
    again = np.concatenate([enc.push(speechlike[:, :1000]), enc.flush()], axis=1)
    np.testing.assert_array_equal(first, again)


def test_lost_tokens_are_concealed_with_right_length_and_fade(codec, offline):
    toks = offline[0].copy()
    toks[:, 8:40] = -1
    hop = codec.samples_per_token_output
    audio = decode_tokens(codec, toks)
    assert audio.shape[1] == toks.shape[1] * hop
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(audio[:, 8 * hop : 10 * hop]) > 0  # held at first
    assert rms(audio[:, 30 * hop : 40 * hop]) == 0  # faded out over a long gap
    # no click: concealment makes no jump clearly larger than the intact decoded signal has
    assert np.abs(np.diff(audio[0])).max() <= 1.1 * np.abs(np.diff(offline[1][0])).max()


def test_non_causal_codec_refuses_to_stream(tmp_path):
    from focalcli.model.testing import TINY_CONFIG

    config = {k: (dict(v, causal=False) if isinstance(v, dict) and "causal" in v else v)
              for k, v in TINY_CONFIG.items()}
    codec = load_codec(str(save_tiny_model(tmp_path, config=config)))
    assert not codec.causal and codec.latency_ms is None
    with pytest.raises(ValueError, match="not causal"):
        EncoderSession(codec)
    toks = encode_signal(codec, np.zeros((1, 3200), np.float32))
    assert toks.shape == (1, 9)  # unpadded convolutions, as the reference
    assert decode_tokens(codec, toks, 3200).shape == (1, 3200)
