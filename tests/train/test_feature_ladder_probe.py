"""The feature-ladder probe (issues 13/14): causal blocks, nested rungs, a loss that learns."""

from __future__ import annotations

import math

import torch

from focalcli.train.feature_ladder_probe import (
    RUNG_GROUPS,
    CausalBlock,
    FeatureLadderCodec,
    HybridLadderCodec,
    PitchLadderCodec,
    concat_splits,
    feature_weights,
    ladder_loss,
    with_v6_codes,
)


def test_causal_block_streaming_equals_offline_and_has_no_lookahead() -> None:
    torch.manual_seed(0)
    block = CausalBlock(5, 7, dim=8, gru_dim=6).eval()
    x = torch.randn(2, 10, 5)
    with torch.no_grad():
        whole, _ = block(x)
        parts, state = [], None
        for a, b in ((0, 3), (3, 4), (4, 10)):
            y, state = block(x[:, a:b], state)
            parts.append(y)
        changed = x.clone()
        changed[:, 6:] -= 2.0
        y_changed, _ = block(changed)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(y_changed[:, :6], whole[:, :6])
    assert not torch.allclose(y_changed[:, 6:], whole[:, 6:])


def test_codes_are_binary_per_group_and_every_rung_decodes() -> None:
    torch.manual_seed(1)
    codec = FeatureLadderCodec(dim=16, gru_dim=16).eval()
    feats = torch.randn(1, 12, 40)
    with torch.no_grad():
        lats = codec.encode(feats)
        codes = codec.bsq.lats_to_codes(lats)
        toks = codec.bsq.codes_to_toks(codes)
        outs = {g: codec.decode(codes[..., : g * 12]) for g in RUNG_GROUPS}
    assert lats.shape == (1, 12, 48)
    # Each 12-bit group is normalised on its own and quantised to +-1/sqrt(12).
    torch.testing.assert_close(lats.unflatten(-1, (4, 12)).norm(dim=-1), torch.ones(1, 12, 4))
    torch.testing.assert_close(codes.abs(), torch.full_like(codes, 1 / math.sqrt(12)))
    assert toks.shape == (1, 12, 4) and int(toks.min()) >= 0 and int(toks.max()) < 4096
    assert all(o.shape == (1, 12, 40) for o in outs.values())
    assert not torch.allclose(outs[1], outs[4])  # more groups change the decoded features
    assert codec.to_features(outs[4]).shape == (1, 24, 20)


def test_a_few_steps_lower_the_loss_of_every_rung() -> None:
    torch.manual_seed(2)
    codec = FeatureLadderCodec(dim=32, gru_dim=32, delay_tokens=1)
    feats = torch.randn(4, 21, 40).cumsum(1) * 0.3  # smooth, like real feature tracks
    codec.mean.copy_(feats.reshape(-1, 40).mean(0))
    codec.std.copy_(feats.reshape(-1, 40).std(0))
    weights = feature_weights(codec.std)
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3)
    _, first = ladder_loss(codec, feats, weights)
    for _ in range(60):
        loss, _ = ladder_loss(codec, feats, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, last = ladder_loss(codec, feats, weights)
    assert len(first) == len(RUNG_GROUPS)
    assert all(b < 0.7 * a for a, b in zip(first, last, strict=True)), (first, last)


def test_pitch_bits_lead_group_0_and_come_back_within_half_a_step() -> None:
    torch.manual_seed(3)
    codec = PitchLadderCodec(dim=16, gru_dim=16, pitch_bits=6).eval()
    feats = torch.randn(1, 9, 40) * 0.4
    feats[..., 38] = feats[..., 18]  # both frames of a token at one pitch
    with torch.no_grad():
        lats = codec.encode(feats)
        codes = codec.bsq.lats_to_codes(lats)
        toks = codec.bsq.codes_to_toks(codes)
        pitch = codec.codes_to_pitch(codes[..., :12])  # rung 1 carries the pitch
        y1 = codec.decode(codes[..., :12])
    assert lats.shape == (1, 9, 48)
    torch.testing.assert_close(lats.unflatten(-1, (4, 12)).norm(dim=-1), torch.ones(1, 9, 4))
    step = (codec.PITCH_RANGE[1] - codec.PITCH_RANGE[0]) / 63
    assert float((pitch - feats[..., 18]).abs().max()) <= step / 2 + 1e-6
    # The group-0 token's 6 most significant bits are the pitch index.
    index = ((feats[..., 18] - codec.PITCH_RANGE[0]) / step).round().long()
    assert torch.equal(toks[..., 0] >> 6, index)
    assert y1.shape == (1, 9, 40)


def test_correlation_bits_follow_the_pitch_bits_and_come_back_within_half_a_step() -> None:
    torch.manual_seed(4)
    codec = PitchLadderCodec(dim=16, gru_dim=16, pitch_bits=5, corr_bits=3).eval()
    feats = torch.randn(1, 9, 40) * 0.4
    feats[..., 19] = torch.linspace(-0.5, 0.5, 9)
    feats[..., 39] = feats[..., 19]
    with torch.no_grad():
        codes = codec.bsq.lats_to_codes(codec.encode(feats))
        toks = codec.bsq.codes_to_toks(codes)
        values = codec.codes_to_scalars(codes[..., :12])
        y1 = codec.decode(codes[..., :12])
    corr_step = (codec.CORR_RANGE[1] - codec.CORR_RANGE[0]) / 7
    assert float((values[..., 1] - feats[..., 19]).abs().max()) <= corr_step / 2 + 1e-6
    corr_index = ((feats[..., 19] - codec.CORR_RANGE[0]) / corr_step).round().long()
    assert torch.equal((toks[..., 0] >> 4) & 7, corr_index)  # bits 5..7 of the group-0 token
    assert codec.decoder.in_proj.in_features == 48 + 2  # codes, pitch and correlation
    assert y1.shape == (1, 9, 40)
    # Only 12 - 5 - 3 = 4 learned bits are left in group 0.
    assert codec.encoder((feats - codec.mean) / codec.std)[0].shape[-1] == 48 - 8


def test_hybrid_group_0_is_v6s_token_and_the_scalar_bits_lead_group_1() -> None:
    torch.manual_seed(5)
    codec = HybridLadderCodec(dim=16, gru_dim=16, delay_tokens=1, pitch_bits=6, corr_bits=2)
    v6_toks = torch.tensor([0, 1, 4095, 2048, 77, 300, 9, 1000, 5])
    feats = torch.randn(9, 40) * 0.4
    feats[:, 38] = feats[:, 18]
    rows = with_v6_codes({"toks": v6_toks.numpy(), "feats": feats.numpy()})
    assert rows.shape == (9, 52)
    with torch.no_grad():
        codes = codec.bsq.lats_to_codes(codec.encode(rows[None]))
        toks = codec.bsq.codes_to_toks(codes)[0]
        ys = [codec.decode(codes[..., : g * 12]) for g in codec.rungs]
    assert torch.equal(toks[:, 0], v6_toks)  # rung 1 is v6's own token, untouched
    step = (codec.PITCH_RANGE[1] - codec.PITCH_RANGE[0]) / 63
    index = ((feats[:, 18] - codec.PITCH_RANGE[0]) / step).round().long()
    assert torch.equal(toks[:, 1] >> 6, index)
    assert all(y.shape == (1, 9, 40) for y in ys)
    assert not torch.allclose(ys[0], ys[-1])
    try:
        codec.decode(codes[..., :12])
    except ValueError:
        pass
    else:
        raise AssertionError("the FARGAN path decoded one group")
    # the loss trains the rungs 2 and 4 only, and falls
    weights = feature_weights(codec.std)
    batch = rows[None].repeat(3, 1, 1)
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3)
    _, first = ladder_loss(codec, batch, weights)
    for _ in range(40):
        loss, _ = ladder_loss(codec, batch, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, last = ladder_loss(codec, batch, weights)
    assert len(first) == 2 and all(b < a for a, b in zip(first, last, strict=True))


def test_concat_splits_keeps_each_files_tokens_together() -> None:
    import numpy as np

    def split(lengths: list[int], first: int) -> dict[str, np.ndarray]:
        n = sum(lengths)
        feats = np.arange(first, first + n, dtype=np.float32)[:, None].repeat(40, 1)
        return {"feats": feats, "toks": np.arange(first, first + n),
                "offsets": np.cumsum([0, *lengths])}

    a, b = split([3, 2], 0), split([4], 100)
    both = concat_splits([a, b])
    assert both["offsets"].tolist() == [0, 3, 5, 9]
    assert both["feats"].shape == (9, 40)
    assert both["toks"][5:9].tolist() == [100, 101, 102, 103]  # b's file, whole and in order


def test_init_from_a_released_hybrid_codes_as_it() -> None:
    """--init on focal-small-hybrid-2 gives a probe that makes the released model's codes and
    features (the exporter's own check), and a run whose fields differ is refused in one line."""
    import pytest

    from focalcli.model import load_codec
    from focalcli.train.fargan_export import check_hybrid_against_probe
    from focalcli.train.feature_ladder_probe import ProbeError, init_from_model

    probe = HybridLadderCodec(256, 384, delay_tokens=2, pitch_bits=6, corr_bits=1)
    init_from_model(probe, "focal-small-hybrid-2")
    check_hybrid_against_probe(load_codec("focal-small-hybrid-2"), probe.eval(), seed=5)
    other = HybridLadderCodec(256, 384, delay_tokens=2, pitch_bits=5, corr_bits=2)
    with pytest.raises(ProbeError, match="scalar fields"):
        init_from_model(other, "focal-small-hybrid-2")
    small = HybridLadderCodec(128, 384, delay_tokens=2, pitch_bits=6, corr_bits=1)
    with pytest.raises(ProbeError, match="do not fit this run's shapes"):
        init_from_model(small, "focal-small-hybrid-2")
    with pytest.raises(ProbeError, match="needs --hybrid"):
        init_from_model(PitchLadderCodec(16, 16, pitch_bits=6), "focal-small-hybrid-2")


def test_copies_take_cache_names_but_not_the_splits_themselves() -> None:
    import argparse

    import pytest

    from focalcli.train.feature_ladder_probe import _copies

    assert _copies("train-tilt3,debian,") == ("train-tilt3", "debian")
    for bad in ("dev", "train", "dev-speed0.9", "../x"):
        with pytest.raises(argparse.ArgumentTypeError):
            _copies(bad)
