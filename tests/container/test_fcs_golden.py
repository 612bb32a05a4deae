"""Golden files pin format version 1: exact headers, tokens and bytes.

If one of these tests fails after a change, the change altered the format: bump the version
instead (and add new golden files), unless the change is a deliberate fix of version 1.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from fcs_testutil import load_script

from focalcli.container import FcsHeader, FcsReader

make_golden = load_script("make_golden.py")

SHA256 = {
    "live_mono_12bit.fcs": "88ff0a2e80d10358d817829361ba3e979ffa256f94ae692a96f764dc03e046a8",
    "stereo_5bit.fcs": "b2716ae3921ebd6350b1d52058e34d96547458b3f1c888820300f8e578477efa",
    "empty_16bit.fcs": "47c743a989d6c4681791b561db41a86903f5a37b61c82136eb245d2bc0a12579",
}

# name -> (header, header size in bytes, tokens per channel, num_samples, packets)
EXPECTED: dict[str, tuple[FcsHeader, int, int, int, int]] = {
    "live_mono_12bit.fcs": (
        FcsHeader(
            model_name="focalcodec_50hz_4k_causal",
            model_hash="a1b2c3d4e5f60718",
            bits_per_token=12,
            token_rate=50.0,
            sample_rate_input=16000,
            sample_rate_output=24000,
            channels=1,
            source_sample_rate=48000,
            num_samples=None,
            packet_tokens=4,
            metadata={"title": "golden live", "lang": "en"},
        ),
        *(76, 18, 5760, 5),
    ),
    "stereo_5bit.fcs": (
        FcsHeader(
            model_name="tiny-causal",
            model_hash="00ff00ff00ff00ff",
            bits_per_token=5,
            token_rate=12.5,
            sample_rate_input=16000,
            sample_rate_output=16000,
            channels=2,
            source_sample_rate=22051,
            num_samples=29440,
            packet_tokens=7,
            metadata={"comment": "Grüße = hello", "empty": ""},
        ),
        *(71, 23, 29440, 4),
    ),
    "empty_16bit.fcs": (
        FcsHeader(
            model_name="m",
            model_hash="fedcba9876543210",
            bits_per_token=16,
            token_rate=1000 / 3,
            sample_rate_input=8000,
            sample_rate_output=44100,
            channels=1,
            source_sample_rate=192000,
            num_samples=0,
            packet_tokens=200,
        ),
        *(28, 0, 0, 1),
    ),
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_golden_file_is_unchanged(name: str) -> None:
    data = (make_golden.GOLDEN_DIR / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_file_decodes_exactly(name: str) -> None:
    header, header_bytes, n, num_samples, packets = EXPECTED[name]
    reader = FcsReader(io.BytesIO((make_golden.GOLDEN_DIR / name).read_bytes()))
    assert reader.header == header
    assert reader.header_bytes == header_bytes
    toks, damages, got_samples = reader.read_all()
    assert damages == [] and reader.end_seen and got_samples == num_samples
    assert reader.stats.packets_ok == packets
    channels, bits = reader.header.channels, reader.header.bits_per_token
    np.testing.assert_array_equal(toks, make_golden.golden_tokens(channels, n, bits))


def test_golden_tokens_formula_is_pinned() -> None:
    assert make_golden.golden_tokens(2, 3, 12).tolist() == [[17, 3656, 3199], [1798, 1341, 884]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_writer_reproduces_golden_bytes(name: str) -> None:
    assert make_golden.render(name) == (make_golden.GOLDEN_DIR / name).read_bytes()
