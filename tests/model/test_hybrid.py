"""The hybrid ladder (``focalcli.model.hybrid``): rung 1 is the base model bit for bit (its
tokens, and its audio delayed by the feature path's latency), the upper rungs speak through
FARGAN, streaming equals offline in any chunking, and a rung change fades without a jump."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from focalcli.engine.session import DecoderSession
from focalcli.model import load_codec
from focalcli.model.codec import FocalCodec
from focalcli.model.geometry import config_to_geometry
from focalcli.model.testing import (
    save_tiny_feature_model,
    tiny_base_config,
    tiny_hybrid_config,
)

from .session_util import decode, encode, speech_like


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> FocalCodec:
    folder = save_tiny_feature_model(tmp_path_factory.mktemp("hybrid"), seed=5,
                                     name="tiny-hybrid", config=tiny_hybrid_config())
    return load_codec(str(folder))


def base_of(codec: FocalCodec) -> FocalCodec:
    """The base model inside a hybrid: its WavLM, FocalEncoder, FocalDecoder and Vocos."""
    base = FocalCodec(tiny_base_config()).eval()
    parts = {"encoder.wavlm.": "encoder.", "compressor.focal.": "compressor.",
             "decompressor.focal.": "decompressor.", "decoder.vocos.": "decoder."}
    state = {new + k[len(old):]: v for k, v in codec.state_dict().items()
             for old, new in parts.items() if k.startswith(old)}
    base.load_state_dict(state, strict=True)
    return base


def test_rung_1_is_the_base_model_bit_for_bit(codec: FocalCodec) -> None:
    x = speech_like(1.0)
    toks = encode(codec, x, [])
    base = base_of(codec)
    base_toks = encode(base, x, [])
    np.testing.assert_array_equal(toks[..., 0], base_toks)
    lag = codec.delay_samples
    assert lag == 2 * 320 + 240 and codec.latency_ms == pytest.approx((1280 + lag) / 16)
    got = assert_rung_1_decodes_as_base(codec, base, toks, base_toks)
    assert not got[0, :lag].any()


def assert_rung_1_decodes_as_base(codec: FocalCodec, base: FocalCodec, toks: np.ndarray,
                                  base_toks: np.ndarray) -> np.ndarray:
    """The hybrid's decode of group 0 is the base's decode of its tokens, ``delay_samples``
    later, sample for sample; -> the hybrid's samples (1, n)."""
    lag = codec.delay_samples
    got, want = decode(codec, [toks[..., :1]]), decode(base, [base_toks])
    np.testing.assert_array_equal(got[0, lag:], want[0, : want.shape[1] - lag])
    return got


def test_upper_rungs_speak_through_fargan(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(1.0, seed=1), [])
    outs = {g: decode(codec, [toks[..., :g]]) for g in (1, 2, 4)}
    assert all(o.shape == (1, toks.shape[1] * 320) for o in outs.values())
    assert all(np.isfinite(o).all() and np.abs(o).max() < 1 for o in outs.values())
    assert not np.allclose(outs[1], outs[2]) and not np.allclose(outs[2], outs[4])


@pytest.mark.parametrize("cuts", [[], [1], [77, 1280, 5000, 5001]])
def test_encoder_session_equals_offline(codec: FocalCodec, cuts: list[int]) -> None:
    x = speech_like(1.25, seed=2)
    pad = -x.size % codec.chunk_size
    with torch.inference_mode():
        ref, _ = codec.sig_to_toks(torch.from_numpy(np.pad(x, (0, pad)))[None])
    np.testing.assert_array_equal(encode(codec, x, cuts), ref.numpy())


def test_decoder_session_equals_offline_across_rung_changes(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(1.2, seed=3), [])
    schedule = [(0, 4), (9, 1), (14, 2), (22, 4), (25, 1), (31, 4), (44, 2)]
    sent = np.full_like(toks, -1)
    for (start, g), (end, _) in zip(schedule, [*schedule[1:], (toks.shape[1], 0)], strict=True):
        sent[:, start:end, :g] = toks[:, start:end, :g]
    with torch.inference_mode():
        codes = codec.toks_to_codes(torch.from_numpy(np.maximum(sent, 0)))
        mask = torch.from_numpy(sent < 0).repeat_interleave(codec.bits_per_token, dim=2)
        ref = codec.codes_to_sig(codes.masked_fill(mask, 0.0))[0].numpy()
    T = toks.shape[1]
    for sizes in ([1] * T, [3, 1, 2, 7, 5, 9, 4, 8, 11, T - 50]):
        pieces, start = [], 0
        for size in sizes:
            for (a, g), (b, _) in zip(schedule, [*schedule[1:], (toks.shape[1], 0)],
                                      strict=True):
                lo, hi = max(a, start), min(b, start + size)
                if lo < hi:
                    pieces.append(toks[:, lo:hi, :g])
            start += size
        np.testing.assert_allclose(decode(codec, pieces), ref, atol=1e-5, rtol=0)


def test_a_rung_change_fades_over_one_token_without_a_jump(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(2.0, seed=4), [])
    up, down = 30, 70  # groups 1.. sent for tokens 30..69 only
    sig = decode(codec, [toks[:, :up, :1], toks[:, up:down], toks[:, down:, :1]])[0]
    lo, hi = decode(codec, [toks[..., :1]])[0], decode(codec, [toks])[0]
    warm = codec.decompressor.warmup_tokens
    # up: the base output until the groups have been there warmup_tokens tokens, then one
    # token of fade; down: the fade starts at the first token without them
    start, stop = 320 * (up + warm - 1), 320 * down
    np.testing.assert_array_equal(sig[:start], lo[:start])
    assert not np.allclose(sig[start + 320 : stop], lo[start + 320 : stop], atol=1e-4)
    np.testing.assert_array_equal(sig[stop + 320 :], lo[stop + 320 :])
    # no jump: the sample-to-sample steps at the fades stay within what either path makes
    # (FARGAN's, here resumed at token 30, is in sig outside the fades)
    outside = np.ones(sig.size - 1, dtype=bool)
    for edge in (start, stop):
        outside[edge - 320 : edge + 640] = False
    biggest = max(np.abs(np.diff(lo)).max(), np.abs(np.diff(hi)).max(),
                  np.abs(np.diff(sig))[outside].max())
    for edge in (start, stop):
        assert np.abs(np.diff(sig[edge - 320 : edge + 640])).max() <= biggest + 1e-6


def test_geometry_matches_the_model(codec: FocalCodec) -> None:
    geometry = config_to_geometry(tiny_hybrid_config())
    for field in ("sample_rate_input", "sample_rate_output", "token_rate", "bits_per_token",
                  "num_groups", "bitrate_kbps", "causal", "chunk_size", "chunk_tokens",
                  "latency_ms", "compression_factor"):
        assert getattr(geometry, field) == getattr(codec, field), field


def test_state_stays_bounded(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(2.0, seed=6), [])
    with DecoderSession(codec) as dec:
        dec.push(toks[:, :20])
        size = dec.state_numel()
        dec.push(toks[:, 20:, :1])
        dec.push(toks[:, 40:])
        assert dec.state_numel() == size > 0


def test_bad_configs_are_refused() -> None:
    config = tiny_hybrid_config()
    config["decoder_config"]["skip_tokens"] = 0
    with pytest.raises(ValueError, match="decoder skips 0 tokens"):
        FocalCodec(config)
    config = tiny_hybrid_config()
    config["encoder_config"]["wavlm_config"]["causal"] = False
    with pytest.raises(ValueError, match="must be causal"):
        FocalCodec(config)
    config = tiny_hybrid_config()
    config["decompressor_config"]["warmup_tokens"] = 0
    with pytest.raises(ValueError, match="warmup_tokens"):
        FocalCodec(config)


def test_fargan_runs_only_where_the_upper_groups_are(codec: FocalCodec) -> None:
    toks = torch.from_numpy(encode(codec, speech_like(1.0, seed=7), []))
    with torch.inference_mode():
        _, state = codec.toks_to_sig(toks[..., :1])
        assert state.decoder is not None and state.decoder.fargan is None  # never started
        _, state = codec.toks_to_sig(toks[..., :2], state)
        assert state.decoder.fargan is not None
        frames = state.decoder.fargan.frames_in
        _, state = codec.toks_to_sig(toks[:, :10, :1], state)  # one token fades FARGAN out
        assert state.decoder.fargan.frames_in == frames + 2


def bundled_hybrids() -> list[str]:
    from focalcli.model.loading import read_config
    from focalcli.model.registry import BUNDLED_DIR, bundled_names

    return [n for n in bundled_names()
            if "base_model" in read_config(BUNDLED_DIR / n / "config.json")]


@pytest.mark.parametrize("name", bundled_hybrids())
def test_a_bundled_hybrids_rung_1_is_its_bundled_base(name: str) -> None:
    """Each release of the hybrid ladder keeps its base's tokens and samples at 0.6 kbit/s."""
    codec = load_codec(name)
    base = load_codec(codec.config["base_model"])
    x = speech_like(1.0, seed=2)
    toks, base_toks = encode(codec, x, [3000]), encode(base, x, [])
    np.testing.assert_array_equal(toks[..., 0], base_toks)
    assert_rung_1_decodes_as_base(codec, base, toks, base_toks)
