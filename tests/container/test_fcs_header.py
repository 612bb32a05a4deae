"""Header: round trips, validation, refusal of foreign, future, truncated and corrupt input."""

from __future__ import annotations

import io

import pytest
from fcs_testutil import MODEL_HASH, make_header

from focalcli.container import (
    MAX_METADATA_BYTES,
    FcsError,
    FcsFormatError,
    FcsHeader,
    FcsReader,
    FcsValueError,
    read_header,
)
from focalcli.container.fcs import crc16, encode_header


def header_bytes(header: FcsHeader) -> bytes:
    return encode_header(header)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"num_samples": 160_000},
        {"num_samples": 0},
        {"metadata": {"title": "Ein Flüstern", "note": "a=b=c", "empty": "", "nl": "x\ny"}},
        {"channels": 2, "packet_tokens": 4, "bits_per_token": 16},
        {"bits_per_token": 1, "token_rate": 12.5, "sample_rate_output": 16000},
        {"token_rate": 1000 / 3, "sample_rate_input": 22051, "source_sample_rate": 16},
        {"sample_rate_input": 192000, "source_sample_rate": 2**32 - 1},
        {"model_name": "", "num_samples": 2**63 - 1},
        {"model_name": "é" * 127},
    ],
)
def test_round_trip(overrides: dict[str, object]) -> None:
    header = make_header(**overrides)
    data = header_bytes(header)
    stream = io.BytesIO(data + b"rest")
    assert read_header(stream) == header
    assert stream.tell() == len(data)  # read exactly the header, nothing after it


def test_model_hash_is_normalised_to_lower_case() -> None:
    assert make_header(model_hash="ABCDEF0123456789").model_hash == "abcdef0123456789"


def test_default_header_is_compact() -> None:
    # magic+version 4, bits/channels 2, rate 2, packet 2, rates 3, samples 3, hash 8,
    # name 1+25, metadata length 1, crc 2
    assert len(header_bytes(make_header(num_samples=160_000))) == 53


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bits_per_token": 0}, "bits per token 0 out of range 1..16"),
        ({"bits_per_token": 17}, "bits per token"),
        ({"bits_per_token": True}, "bits per token must be an integer"),
        ({"channels": 0}, "channels"),
        ({"channels": 256}, "channels"),
        ({"packet_tokens": 0}, "packet tokens"),
        ({"packet_tokens": 40000, "channels": 2}, "exceeds 65535 tokens"),
        ({"token_rate": 0.0}, "token rate"),
        ({"token_rate": float("nan")}, "token rate"),
        ({"token_rate": 1 / 65537}, "not a fraction"),
        ({"sample_rate_input": 15}, "input sample rate"),
        ({"sample_rate_output": 2**32}, "output sample rate"),
        ({"source_sample_rate": 44100.0}, "source sample rate must be an integer"),
        ({"num_samples": -1}, "number of samples"),
        ({"model_hash": "0123"}, "16 hex digits"),
        ({"model_hash": "0123456789abcdeg"}, "16 hex digits"),
        ({"model_name": "x" * 256}, "longer than 255 bytes"),
        ({"model_name": "two\nlines"}, "control characters"),
        ({"metadata": {"": "v"}}, "invalid metadata key"),
        ({"metadata": {"a=b": "v"}}, "invalid metadata key"),
        ({"metadata": {"tab\tkey": "v"}}, "invalid metadata key"),
        ({"metadata": {"k": 5}}, "must be strings"),
        ({"metadata": {"k": "\ud800"}}, "not valid Unicode"),
        ({"metadata": {"k": "x" * MAX_METADATA_BYTES}}, "metadata too large"),
    ],
)
def test_invalid_header_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(FcsValueError, match=message) as info:
        make_header(**overrides)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FcsError)


def test_metadata_size_limit_is_exact() -> None:
    # one entry "k=" + value, with a 3-byte length prefix: fills the block exactly
    value = "v" * (MAX_METADATA_BYTES - 3 - 2)
    header = make_header(metadata={"k": value})
    assert read_header(io.BytesIO(header_bytes(header))).metadata == {"k": value}
    with pytest.raises(FcsValueError, match="metadata too large"):
        make_header(metadata={"k": value + "v"})


def test_unknown_version_refused_with_clear_message() -> None:
    data = bytearray(header_bytes(make_header()))
    data[3] = 4
    with pytest.raises(FcsFormatError) as info:
        read_header(io.BytesIO(bytes(data)))
    assert str(info.value) == "unsupported .fcs version 4 (this focal reads 1, 2 and 3)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an .fcs file (empty input)"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not an .fcs file (starts with b'RIF', not b'FCS')"),
        (b"fLaC\x00\x00\x00\x22", "not an .fcs file"),
        (b"F", "truncated .fcs header"),
        (b"FC", "truncated .fcs header"),
        (b"FCS", "truncated .fcs header"),
        (b"FX", "not an .fcs file"),
    ],
)
def test_not_an_fcs_refused(data: bytes, message: str) -> None:
    with pytest.raises(FcsFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FcsReader(io.BytesIO(data))


def test_truncated_header_at_every_offset() -> None:
    data = header_bytes(make_header(num_samples=123, metadata={"a": "b"}))
    for cut in range(len(data)):
        with pytest.raises(FcsFormatError) as info:
            read_header(io.BytesIO(data[:cut]))
        message = str(info.value)
        assert "\n" not in message
        assert "truncated" in message or cut == 0


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF, 0x5A])
def test_corrupt_header_byte_refused(mask: int) -> None:
    data = header_bytes(make_header(num_samples=123, metadata={"a": "b"}))
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= mask
        with pytest.raises(FcsFormatError):
            read_header(io.BytesIO(bytes(bad) + b"\x00" * 100))


def test_crc_valid_but_impossible_fields_refused() -> None:
    """A header whose checksum matches but whose fields are out of range is still refused."""
    data = bytearray(header_bytes(make_header()))
    data[4] = 0  # bits per token 0
    data[-2:] = crc16(bytes(data[:-2])).to_bytes(2, "big")
    with pytest.raises(FcsFormatError, match=r"corrupt .fcs header \(bits per token 0"):
        read_header(io.BytesIO(bytes(data)))


def test_huge_metadata_length_does_not_read_forever() -> None:
    data = bytearray(header_bytes(make_header()))
    # metadata length is the byte before the CRC (0 for no metadata): claim 2**35 bytes
    bad = bytes(data[:-3]) + b"\x80\x80\x80\x80\x40"
    with pytest.raises(FcsFormatError, match="metadata length"):
        read_header(io.BytesIO(bad + b"\x00" * 10))


def test_random_garbage_only_raises_format_error() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    for i in range(2000):
        blob = rng.integers(0, 256, size=int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        if i % 2:
            blob = b"FCS\x01" + blob
        with pytest.raises(FcsFormatError):
            FcsReader(io.BytesIO(blob))


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_hash_is_stored_raw() -> None:
    assert bytes.fromhex(MODEL_HASH) in header_bytes(make_header())
