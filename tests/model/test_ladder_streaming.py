"""A grouped (bitrate-ladder) model streams as it codes offline, at any rung, and the rung may
change from one chunk to the next with the same decode state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from focalcli.model import load_codec
from focalcli.model.testing import save_tiny_model, tiny_grouped_config


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("m"), seed=3, name="tiny-ladder",
                             config=tiny_grouped_config(4))
    return load_codec(str(folder))


@pytest.fixture(scope="module")
def sig() -> torch.Tensor:
    rng = np.random.default_rng(1)
    t = np.arange(16000 + 640) / 16000  # not a whole number of chunks: padded below
    x = 0.3 * np.sin(2 * np.pi * 160 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    x = x + 0.05 * rng.standard_normal(t.size)
    x = np.pad(x, (0, -x.size % 1280))
    return torch.from_numpy(x.astype(np.float32))[None]


def test_streaming_tokens_equal_offline(codec, sig) -> None:
    with torch.inference_mode():
        offline, _ = codec.sig_to_toks(sig)
        state = None
        pieces = []
        for start in range(0, sig.shape[1], codec.chunk_size):
            toks, state = codec.sig_to_toks(sig[:, start : start + codec.chunk_size], state)
            pieces.append(toks)
    assert offline.shape == (1, sig.shape[1] // 320, 4)
    assert torch.equal(torch.cat(pieces, dim=1), offline)


def test_decoding_per_chunk_with_changing_rungs_equals_offline(codec, sig) -> None:
    """Chunk c is sent with g_c groups; streaming decode == one offline decode of the codes with
    the groups not sent zeroed, and each rung alone also streams as it decodes offline."""
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(sig)
        k = codec.chunk_tokens
        n_chunks = toks.shape[1] // k
        schedule = [(1, 2, 4, 4, 2, 1, 3)[c % 7] for c in range(n_chunks)]
        codes = codec.toks_to_codes(toks).clone()  # (1, K, 32)
        for c, g in enumerate(schedule):
            codes[:, c * k : (c + 1) * k, g * 8 :] = 0
        offline, _ = codec.codes_to_sig(codes)
        state = None
        out = []
        for c, g in enumerate(schedule):
            piece, state = codec.toks_to_sig(toks[:, c * k : (c + 1) * k, :g], state)
            out.append(piece)
        streamed = torch.cat(out, dim=1)
        torch.testing.assert_close(streamed, offline, atol=1e-5, rtol=0)
        for g in (1, 2, 4):
            whole, _ = codec.toks_to_sig(toks[..., :g])
            state, parts = None, []
            for c in range(n_chunks):
                piece, state = codec.toks_to_sig(toks[:, c * k : (c + 1) * k, :g], state)
                parts.append(piece)
            torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=0)
    # the groups matter: decoding from fewer groups gives a different signal
    assert not torch.allclose(codec.toks_to_sig(toks[..., :1])[0], offline, atol=1e-4)
