"""Bit packing: exhaustive round trips over every width and odd lengths, against a reference."""

from __future__ import annotations

import timeit

import numpy as np
import pytest

from focalcli.container import bitpack

WIDTHS = range(1, 17)
LENGTHS = [0, 1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 33, 63, 64, 100, 257]


def reference_pack(toks: list[int], bits: int) -> bytes:
    """Obvious implementation: a string of '0'/'1', MSB first, zero-padded to whole bytes."""
    s = "".join(format(t, f"0{bits}b") for t in toks)
    s += "0" * (-len(s) % 8)
    return bytes(int(s[i : i + 8], 2) for i in range(0, len(s), 8))


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("n", LENGTHS)
def test_round_trip_matches_reference(bits: int, n: int) -> None:
    rng = np.random.default_rng(bits * 1000 + n)
    toks = rng.integers(0, 1 << bits, size=n)
    if n >= 2:
        toks[0], toks[-1] = 0, (1 << bits) - 1  # extremes always present
    packed = bitpack.pack(toks, bits)
    assert packed == reference_pack(toks.tolist(), bits)
    assert len(packed) == bitpack.packed_size(n, bits) == (n * bits + 7) // 8
    out = bitpack.unpack(packed, bits, n)
    assert out.dtype == np.int64 and out.shape == (n,)
    np.testing.assert_array_equal(out, toks)


@pytest.mark.parametrize("bits", WIDTHS)
def test_every_value_of_every_width(bits: int) -> None:
    toks = np.arange(1 << bits)
    for n in (toks.size, toks.size - 1):  # an odd length too
        packed = bitpack.pack(toks[:n], bits)
        np.testing.assert_array_equal(bitpack.unpack(packed, bits, n), toks[:n])


def test_known_vectors() -> None:
    assert bitpack.pack([1, 2, 3], 4) == b"\x12\x30"
    assert bitpack.pack([0xABC, 0xDEF], 12) == b"\xab\xcd\xef"
    assert bitpack.pack([0xABCD], 16) == b"\xab\xcd"
    assert bitpack.pack([1, 0, 1], 1) == b"\xa0"
    assert bitpack.pack([0x7FF], 11) == b"\xff\xe0"  # 5 zero padding bits


def test_accepts_any_integer_dtype_and_lists() -> None:
    for dtype in (np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint64):
        assert bitpack.pack(np.array([5, 6], dtype=dtype), 3) == bitpack.pack([5, 6], 3)


def test_pack_rows_pads_each_row() -> None:
    rows = bitpack.pack_rows(np.array([[1, 2, 3], [4, 5, 6]]), 5)
    assert rows.shape == (2, 2)
    assert rows[0].tobytes() == bitpack.pack([1, 2, 3], 5)
    assert rows[1].tobytes() == bitpack.pack([4, 5, 6], 5)


def test_unpack_ignores_trailing_bytes_and_padding() -> None:
    assert bitpack.unpack(b"\x12\x3f\xff", 4, 3).tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("toks", "bits"),
    [
        ([-1], 4),
        ([16], 4),
        ([0, 2], 1),
        ([1 << 16], 16),
        ([1], 0),
        ([1], 17),
        (np.array([1.0]), 4),
        (np.array([[1, 2]]), 4),
        ([True], 4.5),
    ],
)
def test_invalid_input_rejected(toks: object, bits: object) -> None:
    with pytest.raises(ValueError):
        bitpack.pack(toks, bits)  # type: ignore[arg-type]


def test_out_of_range_message_names_the_value() -> None:
    with pytest.raises(ValueError, match="token 4096 out of range 0..4095 for 12 bits"):
        bitpack.pack([1, 4096], 12)


def test_unpack_rejects_short_data_and_bad_args() -> None:
    with pytest.raises(ValueError, match="need 2 bytes"):
        bitpack.unpack(b"\x00", 12, 1)
    with pytest.raises(ValueError):
        bitpack.unpack(b"\x00", 0, 1)
    with pytest.raises(ValueError):
        bitpack.unpack(b"\x00", 4, -1)


def test_an_hour_of_tokens_packs_in_milliseconds() -> None:
    toks = np.random.default_rng(0).integers(0, 4096, size=180_000)  # 1 h at 50 Hz
    packed = bitpack.pack(toks, 12)
    best_pack = min(timeit.repeat(lambda: bitpack.pack(toks, 12), number=1, repeat=5))
    best_unpack = min(
        timeit.repeat(lambda: bitpack.unpack(packed, 12, toks.size), number=1, repeat=5)
    )
    print(f"pack {best_pack * 1e3:.1f} ms, unpack {best_unpack * 1e3:.1f} ms for 180k tokens")
    assert best_pack < 0.05 and best_unpack < 0.05  # typically 2-4 ms each


def test_non_contiguous_input() -> None:
    toks = np.arange(12).reshape(3, 4)
    assert bitpack.pack_rows(toks.T, 4).tolist() == bitpack.pack_rows(toks.T.copy(), 4).tolist()
    assert bitpack.pack(toks[:, 1], 4) == bitpack.pack([1, 5, 9], 4)
