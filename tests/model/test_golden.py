"""The reference implementation's outputs on the tiny golden model, offline and streaming."""

from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.engine import DecoderSession, EncoderSession
from focalcli.model import load_codec

GOLDEN = Path(__file__).parent / "golden"
ATOL = 1e-5


def golden(name: str) -> np.ndarray:
    return np.load(GOLDEN / f"{name}.npy")


@pytest.fixture(scope="module")
def codec():
    return load_codec(str(GOLDEN))


@pytest.fixture(scope="module")
def sig() -> torch.Tensor:
    return torch.from_numpy(golden("input").astype(np.float32)).reshape(1, -1)


@torch.inference_mode()
def test_offline_every_stage(codec, sig):
    feats, _ = codec.sig_to_feats(sig)
    np.testing.assert_allclose(feats.numpy(), golden("feats"), atol=ATOL)
    lats, _ = codec.feats_to_lats(feats)
    np.testing.assert_allclose(lats.numpy(), golden("lats"), atol=ATOL)
    toks = codec.lats_to_toks(lats)
    np.testing.assert_array_equal(toks.numpy(), golden("tokens"))
    codes = codec.toks_to_codes(toks)
    np.testing.assert_array_equal(codes.numpy(), golden("codes"))
    np.testing.assert_array_equal(codec.codes_to_toks(codes).numpy(), golden("tokens"))
    qfeats, _ = codec.codes_to_qfeats(codes)
    np.testing.assert_allclose(qfeats.numpy(), golden("qfeats"), atol=ATOL)
    audio, _ = codec.qfeats_to_sig(qfeats)
    np.testing.assert_allclose(audio.numpy(), golden("decoded"), atol=ATOL)


@torch.inference_mode()
def test_model_streaming_chunk_by_chunk(codec, sig):
    enc_state = dec_state = None
    toks, audio = [], []
    padded = torch.nn.functional.pad(sig, (0, -sig.shape[1] % codec.chunk_size))
    for chunk in padded.split(codec.chunk_size, dim=1):
        t, enc_state = codec.sig_to_toks(chunk, enc_state)
        a, dec_state = codec.toks_to_sig(t, dec_state)
        toks.append(t)
        audio.append(a)
    np.testing.assert_array_equal(torch.cat(toks, 1).numpy(), golden("tokens_stream"))
    np.testing.assert_array_equal(codec.toks_to_codes(torch.cat(toks, 1)).numpy(),
                                  golden("codes_stream"))
    np.testing.assert_allclose(torch.cat(audio, 1).numpy(), golden("decoded_stream"), atol=ATOL)


def test_sessions_reproduce_streaming_golden(codec, sig):
    with EncoderSession(codec) as enc:
        toks = np.concatenate([enc.push(sig.numpy()), enc.flush()], axis=1)
    np.testing.assert_array_equal(toks, golden("tokens_stream"))
    with DecoderSession(codec) as dec:
        audio = np.concatenate([dec.push(golden("tokens")), dec.flush()], axis=1)
    np.testing.assert_allclose(audio, golden("decoded_stream_from_offline_tokens"), atol=ATOL)


def test_properties(codec):
    assert codec.sample_rate_input == 16000
    assert codec.sample_rate_output == 24000
    assert codec.chunk_size == 1280
    assert codec.latency_ms == 80.0
    assert codec.token_rate == 50.0
    assert codec.bits_per_token == 8
    assert codec.causal
    assert sum(codec.num_parameters().values()) == 427508
