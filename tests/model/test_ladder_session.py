"""The streaming decoder session with a ladder model: (B, k, g) tokens at any rung, rungs
changing between calls, lost frames concealed, groups not sent decoded as the lower rung."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from focalcli.engine.session import DecoderSession, EncoderSession
from focalcli.model import load_codec
from focalcli.model.testing import save_tiny_model, tiny_grouped_config


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("m"), seed=5, name="tiny-ladder",
                             config=tiny_grouped_config(4))
    return load_codec(str(folder))


@pytest.fixture(scope="module")
def toks(codec) -> np.ndarray:
    rng = np.random.default_rng(2)
    t = np.arange(12800) / 16000
    x = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(t.size)
    with EncoderSession(codec) as enc:
        out = np.concatenate([enc.push(x[None].astype(np.float32)), enc.flush()], axis=1)
    assert out.shape == (1, 40, 4)
    return out


def decode(codec, pieces: list[np.ndarray]) -> np.ndarray:
    with DecoderSession(codec) as dec:
        return np.concatenate([dec.push(p) for p in pieces] + [dec.flush()], axis=1)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_each_rung_decodes_as_the_model_does_offline(codec, toks, groups) -> None:
    with torch.inference_mode():
        ref = codec.toks_to_sig(torch.from_numpy(toks[:, :, :groups]))[0].numpy()
    got = decode(codec, [toks[:, i : i + 4, :groups] for i in range(0, 40, 4)])
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_rung_changes_between_chunks_use_one_state(codec, toks) -> None:
    schedule = [4, 1, 2, 4, 4, 1, 1, 2, 4, 1]
    pieces = [toks[:, 4 * k : 4 * k + 4, :g] for k, g in enumerate(schedule)]
    padded = np.full_like(toks, -1)
    for k, g in enumerate(schedule):
        padded[:, 4 * k : 4 * k + 4, :g] = toks[:, 4 * k : 4 * k + 4, :g]
    with torch.inference_mode():
        codes = codec.toks_to_codes(torch.from_numpy(np.maximum(padded, 0)))
        mask = torch.from_numpy(padded < 0).repeat_interleave(codec.bits_per_token, dim=2)
        ref = codec.codes_to_sig(codes.masked_fill(mask, 0.0))[0].numpy()
    np.testing.assert_allclose(decode(codec, pieces), ref, atol=1e-5)
    # and it is not the top rung throughout: the schedule changed the sound
    assert not np.allclose(decode(codec, pieces), decode(codec, [toks]), atol=1e-4)


def test_a_lost_frame_is_concealed_whatever_the_rung(codec, toks) -> None:
    damaged = toks.copy()
    damaged[:, 8:12, :] = -1  # a lost packet: every group
    got = decode(codec, [damaged[:, :, :2]])
    assert got.shape[1] == 40 * codec.samples_per_token_output and np.isfinite(got).all()
    with DecoderSession(codec) as dec:
        dec.push(damaged[:, :, :2])
        assert dec.tokens_concealed == 4


def test_wrong_shapes_are_refused(codec) -> None:
    with DecoderSession(codec) as dec:
        for bad in (np.zeros((1, 4), dtype=np.int64), np.zeros((1, 4, 5), dtype=np.int64)):
            with pytest.raises(ValueError, match=r"shape \(1, n, g\)"):
                dec.push(bad)
