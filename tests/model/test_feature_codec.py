"""The feature codec (LPCNet features -> learned ladder -> FARGAN) inside FocalCodec: lengths,
streaming through the engine's sessions == one offline call in any chunking, rung changes
mid-stream, loading from a folder, latency and the geometry without torch.

The encoder's analysis is a test double here (``FakeAnalysis``: the interface of
``focalcli.model.lpcnet_analysis.LPCNetAnalysis``, not its maths), so these tests check the
wrapping; with the real analysis present, the streaming tests run on it too.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from focalcli.engine.session import DecoderSession, EncoderSession
from focalcli.model import feature_codec, load_codec
from focalcli.model.codec import FocalCodec
from focalcli.model.fargan import FRAME_SIZE, PRIME_FRAMES
from focalcli.model.geometry import config_to_geometry
from focalcli.model.testing import save_tiny_feature_model, tiny_feature_config

from .session_util import decode, encode, speech_like

HAVE_ANALYSIS = importlib.util.find_spec("focalcli.model.lpcnet_analysis") is not None


class FakeAnalysis(nn.Module):
    """TEST DOUBLE of LPCNetAnalysis' interface: 20 values per 160-sample frame from a random
    linear map of that frame and the previous one (the state, (B, 160)); value 18, the pitch
    feature, lies in (-1.2, 1.2). Causal and exact in any chunking of whole frames."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(320, 20)

    def initial_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, 160)

    def sig_to_feats(self, sig: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        B, N = sig.shape
        assert N % 160 == 0
        frames = torch.cat([state[:, None], sig.reshape(B, N // 160, 160)], dim=1)
        pairs = torch.cat([frames[:, :-1], frames[:, 1:]], dim=-1)
        feats = torch.tanh(4 * self.proj(pairs))
        feats = torch.cat([feats[..., :18], 1.2 * feats[..., 18:19], feats[..., 19:]], dim=-1)
        return feats, frames[:, -1]


@pytest.fixture(scope="module")
def fake_analysis() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(feature_codec, "make_analysis", lambda **_: FakeAnalysis())
        yield


def _save(tmp: Path, name: str, **kwargs: Any) -> Path:
    return save_tiny_feature_model(tmp, seed=3, name=name, config=tiny_feature_config(**kwargs))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, fake_analysis: None) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("feature")
    return {"c4": _save(tmp, "feat-c4"), "c1d2": _save(tmp, "feat-c1d2", chunk_frames=1,
                                                       delay_tokens=2),
            # pitch (4 bits) and correlation (2 bits) lead group 0: 2 learned bits left
            "c2s": _save(tmp, "feat-c2s", chunk_frames=2, delay_tokens=1,
                         scalars=[[18, -1.55, 1.55, 4], [19, -0.5, 0.5, 2]])}


@pytest.fixture(scope="module", params=["c4", "c1d2", "c2s"])
def codec(request: pytest.FixtureRequest, folders: dict[str, Path]) -> FocalCodec:
    return load_codec(str(folders[request.param]))


def test_shapes_and_output_length(codec: FocalCodec) -> None:
    assert codec.causal and codec.sample_rate_output == 16000 and codec.token_rate == 50
    assert codec.num_groups == 4 and codec.rungs == [8, 16, 32]
    n = 16000 + 123  # not whole chunks: the last one is zero-padded
    x = torch.from_numpy(speech_like(n / 16000))[None]
    pad = -n % codec.chunk_size
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(nn.functional.pad(x, (0, pad)))
        assert toks.shape == (1, codec.num_tokens(n), 4)
        assert codec.num_tokens(n) == codec.chunk_tokens * -(-n // codec.chunk_size)
        for g in (1, 2, 4):
            sig, _ = codec.toks_to_sig(toks[..., :g])
            assert sig.shape == (1, toks.shape[1] * 320)
            # the skipped tokens and FARGAN's 5 priming frames decode to zeros, then sound
            silent = 2 * codec.decoder.skip_tokens * FRAME_SIZE + PRIME_FRAMES * FRAME_SIZE
            assert not sig[0, :silent].any() and sig[0, silent : silent + 160].abs().max() > 0
            assert torch.isfinite(sig).all() and sig.abs().max() < 1


@pytest.mark.parametrize("cuts", [[], [1], [77, 320, 5000, 5001], list(range(0, 20000, 999))])
def test_encoder_session_equals_offline(codec: FocalCodec, cuts: list[int]) -> None:
    x = speech_like(1.25)
    pad = -x.size % codec.chunk_size
    with torch.inference_mode():
        ref, _ = codec.sig_to_toks(torch.from_numpy(np.pad(x, (0, pad)))[None])
    got = encode(codec, x, cuts)
    np.testing.assert_array_equal(got, ref.numpy())


def test_decoder_session_equals_offline_in_any_chunking(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(1.0, seed=1), [])
    with torch.inference_mode():
        ref = codec.toks_to_sig(torch.from_numpy(toks))[0].numpy()
    for sizes in ([toks.shape[1]], [1] * toks.shape[1], [3, 1, 2, 7, 5, 9, 4, 8, 11]):
        pieces, start = [], 0
        for size in sizes:
            pieces.append(toks[:, start : start + size])
            start += size
        pieces.append(toks[:, start:])
        got = decode(codec, pieces)
        assert got.shape == (1, toks.shape[1] * 320)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_rung_change_mid_stream(codec: FocalCodec) -> None:
    """Each piece sent at its own rung: the streamed decode is the offline decode of the codes
    with the unsent groups zeroed, and differs from the top rung throughout."""
    toks = encode(codec, speech_like(1.2, seed=2), [])
    schedule = [(0, 4), (4, 1), (9, 2), (13, 4), (20, 1), (31, 2), (40, 4)]
    pieces, sent = [], np.full_like(toks, -1)
    for (start, g), (end, _) in zip(schedule, [*schedule[1:], (toks.shape[1], 0)], strict=True):
        pieces.append(toks[:, start:end, :g])
        sent[:, start:end, :g] = toks[:, start:end, :g]
    with torch.inference_mode():
        codes = codec.toks_to_codes(torch.from_numpy(np.maximum(sent, 0)))
        mask = torch.from_numpy(sent < 0).repeat_interleave(codec.bits_per_token, dim=2)
        ref = codec.codes_to_sig(codes.masked_fill(mask, 0.0))[0].numpy()
    got = decode(codec, pieces)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    assert not np.allclose(got, decode(codec, [toks]), atol=1e-4)


def test_state_stays_bounded(codec: FocalCodec) -> None:
    x = speech_like(2.0, seed=4)
    with EncoderSession(codec) as enc:
        enc.push(x[None, :6400])
        size = enc.state_numel()
        enc.push(x[None, 6400:])
        assert enc.state_numel() == size > 0
    toks = encode(codec, x, [])
    with DecoderSession(codec) as dec:
        dec.push(toks[:, :20])
        size = dec.state_numel()
        dec.push(toks[:, 20:])
        assert dec.state_numel() == size > 0


def test_loading_names_and_hashes(folders: dict[str, Path], tmp_path: Path) -> None:
    a = load_codec(str(folders["c4"]))
    b = load_codec(str(_save(tmp_path, "feat-c4d2", delay_tokens=2)))
    assert a.name == "feat-c4" and len(a.weights_hash) == 16 and a.token_space
    # the same weights with another decoder delay: the same token space and weights file hash
    assert a.token_space == b.token_space and a.weights_hash == b.weights_hash
    assert a.token_space != load_codec(str(folders["c1d2"])).token_space  # chunk_frames
    keys = set(a.state_dict())
    assert {"compressor.mean", "compressor.std", "decompressor.mean", "decompressor.std",
            "compressor.block.in_proj.weight", "decompressor.block.gru.weight_hh_l0",
            "decoder.fargan.sig.gru1.input.weight"} <= keys


def test_latency_and_geometry(folders: dict[str, Path]) -> None:
    for key, chunk, delay in (("c4", 1280, 0), ("c1d2", 320, 2)):
        config = json.loads((folders[key] / "config.json").read_text())
        codec = load_codec(str(folders[key]))
        assert codec.chunk_size == chunk and codec.chunk_tokens == chunk // 320
        assert codec.latency_ms == pytest.approx((chunk + 320 * delay + 240) / 16)
        geometry = config_to_geometry(config)
        for field in ("sample_rate_input", "sample_rate_output", "frame_rate", "token_rate",
                      "bits_per_token", "num_groups", "codebook_size", "bitrate_kbps",
                      "causal", "chunk_size", "chunk_tokens", "latency_ms",
                      "samples_per_token_input", "samples_per_token_output",
                      "compression_factor", "downscale_factors"):
            assert getattr(geometry, field) == getattr(codec, field), field


def test_precisions_run(folders: dict[str, Path]) -> None:
    from focalcli.model.precision import PrecisionError, check_precision

    toks = None
    for precision in ("fp32", "bf16", "mixed"):
        try:
            check_precision(precision)
        except PrecisionError:
            continue
        codec = load_codec(str(folders["c4"]), precision=precision)
        x = speech_like(0.4, seed=5)
        got = encode(codec, x, [])
        sig = decode(codec, [got])
        assert sig.shape == (1, got.shape[1] * 320) and np.isfinite(sig).all()
        toks = got if toks is None else toks
        assert got.shape == toks.shape


def test_decoder_delay_must_match_skip(fake_analysis: None) -> None:
    config = tiny_feature_config(delay_tokens=2)
    config["decoder_config"]["skip_tokens"] = 0
    with pytest.raises(ValueError, match="decoder skips 0 tokens but the decompressor's delay"):
        FocalCodec(config)


def test_decoder_equals_probe_framing() -> None:
    """FARGANDecoder with skip D: D tokens of zeros, then what vocoder_probe.feats_to_wav gives
    for the features from token D on (FARGAN primed on their first 5 frames, 800 zeros)."""
    cfg = tiny_feature_config()["decoder_config"]["fargan_config"]
    torch.manual_seed(0)
    dec = feature_codec.FARGANDecoder(cfg, skip_tokens=2).eval()
    feats = 0.5 * torch.randn(1, 12, 40)
    feats[..., 18::20] = torch.empty(1, 12, 2).uniform_(-1.2, 1.2)
    with torch.inference_mode():
        got, _ = dec(feats)
        frames = feats[:, 2:].reshape(1, 20, 20)
        tail, _ = dec.fargan(frames)
    want = torch.cat([torch.zeros(1, 2 * 320 + 800), tail], dim=1)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.skipif(not HAVE_ANALYSIS, reason="focalcli.model.lpcnet_analysis not there yet")
def test_real_analysis_streams_as_offline(tmp_path: Path) -> None:
    folder = save_tiny_feature_model(tmp_path, seed=1, name="feat-real")
    codec = load_codec(str(folder))
    x = speech_like(1.0, seed=6)
    pad = -x.size % codec.chunk_size
    with torch.inference_mode():
        ref, _ = codec.sig_to_toks(torch.from_numpy(np.pad(x, (0, pad)))[None])
    np.testing.assert_array_equal(encode(codec, x, [321, 1600, 9000]), ref.numpy())
    sig = decode(codec, [ref.numpy()[:, :7], ref.numpy()[:, 7:]])
    with torch.inference_mode():
        want = codec.toks_to_sig(ref)[0].numpy()
    np.testing.assert_allclose(sig, want, atol=1e-5, rtol=0)


def test_two_channels_code_as_two_streams(codec: FocalCodec) -> None:
    x = np.stack([speech_like(0.7, seed=7), speech_like(0.7, seed=8)])
    with EncoderSession(codec, batch_size=2) as enc:
        both = np.concatenate([enc.push(x), enc.flush()], axis=1)
    for c in range(2):
        np.testing.assert_array_equal(both[c], encode(codec, x[c], [])[0])
    with DecoderSession(codec, batch_size=2) as dec:
        sig = np.concatenate([dec.push(both), dec.flush()], axis=1)
    np.testing.assert_allclose(sig[1], decode(codec, [both[1:]])[0], atol=1e-5, rtol=0)


def test_lost_tokens_keep_the_length_and_fade(codec: FocalCodec) -> None:
    toks = encode(codec, speech_like(1.0, seed=9), [])
    lost = toks.copy()
    lost[:, 20:40] = -1  # 400 ms lost: held, then faded to silence
    with DecoderSession(codec) as dec:
        head = dec.push(lost)
        assert dec.tokens_concealed == 20
        sig = np.concatenate([head, dec.flush()], axis=1)
    assert sig.shape == (1, toks.shape[1] * 320) and np.isfinite(sig).all()
    assert np.abs(sig[0, 36 * 320 : 40 * 320]).max() == 0  # faded out by the end of the gap


def test_scalar_fields_lead_group_0_and_decode_as_the_base(folders: dict[str, Path]) -> None:
    """With scalar fields the group-0 token's top bits are the quantised pitch (mean of the
    token's two frames) and correlation, and the decompressor's pitch output is a residual on
    the dequantised pitch."""
    codec = load_codec(str(folders["c2s"]))
    x = speech_like(0.6, seed=4)
    with torch.inference_mode():
        sig = torch.from_numpy(np.pad(x, (0, -x.size % codec.chunk_size)))[None]
        feats, _ = codec.sig_to_feats(sig)
        toks, _ = codec.sig_to_toks(sig)
    pitch = 0.5 * (feats[..., 18] + feats[..., 38])
    corr = 0.5 * (feats[..., 19] + feats[..., 39])
    p_index = ((pitch + 1.55) / (3.1 / 15)).round().clamp(0, 15).long()
    c_index = ((corr + 0.5) / (1 / 3)).round().clamp(0, 3).long()
    assert torch.equal(toks[..., 0] >> 4, p_index)
    assert torch.equal((toks[..., 0] >> 2) & 3, c_index)
    dec = codec.decompressor
    codes = codec.toks_to_codes(toks)
    with torch.inference_mode():
        q, _ = dec(codes)
        # the block's output alone, without the dequantised base
        values = feature_codec.scalar_codes_to_values(codes, dec.scalars)
        std = (values[..., :1] - dec.mean[18]) / dec.std[18]
        inputs = [(values[..., i : i + 1] - dec.mean[f.index]) / dec.std[f.index]
                  for i, f in enumerate(dec.scalars)]
        y, _ = dec.block(torch.cat([codes, *inputs], dim=-1))
        assert torch.equal(values[..., 0], codec.decompressor.scalars[0].lo
                           + p_index.to(values.dtype) * (3.1 / 15))
    torch.testing.assert_close(q[..., 18], (y[..., 18] + std[..., 0]) * dec.std[18]
                               + dec.mean[18])


def test_scalar_fields_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="expected \\[index 0..19"):
        feature_codec.FeatureCompressor(scalars=[[20, -1.0, 1.0, 4]])
    with pytest.raises(ValueError, match="expected \\[index 0..19"):
        feature_codec.FeatureDecompressor(scalars=[[18, 1.0, -1.0, 4]])
    for bad in (5, [18, -1.0, 1.0], ["x", -1.0, 1.0, 4], [18, -1.0, 1.0, 40]):
        with pytest.raises(ValueError, match="expected \\[index 0..19"):
            feature_codec.scalar_fields([bad])
    with pytest.raises(ValueError, match="must leave learned bits"):
        feature_codec.FeatureCompressor(scalars=[[18, -1.55, 1.55, 12]])
    with pytest.raises(ValueError, match="must leave learned bits"):
        feature_codec.FeatureDecompressor(input_dim=8, scalars=[[18, -1.55, 1.55, 8]])
