"""The grouped binary spherical quantizer: nested 12-bit groups, each its own token."""

from __future__ import annotations

import pytest
import torch

from focalcli.model.bsq import BinarySphericalQuantizer
from focalcli.model.codec import FocalCodec
from focalcli.model.testing import TINY_CONFIG, tiny_grouped_config


def test_single_group_is_the_plain_quantizer() -> None:
    q = BinarySphericalQuantizer(4096)
    assert (q.dim, q.num_groups, q.latent_dim) == (12, 1, 12)
    lats = torch.randn(2, 5, 12)
    toks = q.lats_to_toks(lats)
    assert toks.shape == (2, 5)
    assert torch.equal(q.toks_to_codes(toks), q.lats_to_codes(lats))
    assert torch.allclose(q.normalize(lats), torch.nn.functional.normalize(lats, dim=-1))


def test_grouped_round_trip_and_layout() -> None:
    q = BinarySphericalQuantizer(4096, num_groups=4)
    assert (q.dim, q.num_groups, q.latent_dim) == (12, 4, 48)
    torch.manual_seed(0)
    lats = q.normalize(torch.randn(3, 7, 48))
    # each 12-dim group is unit-norm on its own
    assert torch.allclose(lats.unflatten(-1, (4, 12)).norm(dim=-1), torch.ones(3, 7, 4))
    codes = q.lats_to_codes(lats)
    toks = q.lats_to_toks(lats)
    assert toks.shape == (3, 7, 4) and toks.dtype == torch.int64
    assert int(toks.min()) >= 0 and int(toks.max()) < 4096
    assert torch.equal(q.toks_to_codes(toks), codes)
    assert torch.equal(q.codes_to_toks(codes), toks)
    # group g's token is the plain quantizer's token of dims 12g..12g+11 (MSB first)
    plain = BinarySphericalQuantizer(4096)
    for g in range(4):
        assert torch.equal(toks[..., g], plain.lats_to_toks(lats[..., 12 * g : 12 * g + 12]))


def test_truncation_pads_missing_groups_with_zero_codes() -> None:
    q = BinarySphericalQuantizer(4096, num_groups=4)
    toks = torch.randint(0, 4096, (2, 5, 4))
    full = q.toks_to_codes(toks)
    for g in (1, 2, 3):
        part = q.pad_codes(q.toks_to_codes(toks[..., :g]))
        assert part.shape == (2, 5, 48)
        assert torch.equal(part[..., : 12 * g], full[..., : 12 * g])
        assert not part[..., 12 * g :].any()
    with pytest.raises(ValueError, match="5 token groups"):
        q.toks_to_codes(torch.zeros(1, 2, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiple of 12"):
        q.pad_codes(torch.zeros(1, 2, 13))
    with pytest.raises(ValueError, match="num_groups"):
        BinarySphericalQuantizer(4096, num_groups=0)


def test_codec_properties_and_shape_checks() -> None:
    single = FocalCodec(TINY_CONFIG)
    assert (single.num_groups, single.bits_per_group, single.rungs) == (1, 8, [8])
    codec = FocalCodec(tiny_grouped_config(4))
    assert (codec.num_groups, codec.bits_per_group, codec.bits_per_token) == (4, 8, 8)
    assert codec.rung_groups == [1, 2, 4] and codec.rungs == [8, 16, 32]
    assert codec.rung_bitrate_kbps(1) == pytest.approx(0.4)
    assert codec.bitrate_kbps == pytest.approx(1.6)
    assert FocalCodec(tiny_grouped_config(3)).rung_groups == [1, 2, 3]
    bad = tiny_grouped_config(4)
    bad["decompressor_config"]["input_dim"] = 8
    with pytest.raises(ValueError, match="in 4 groups needs 32-dim latents"):
        FocalCodec(bad)
