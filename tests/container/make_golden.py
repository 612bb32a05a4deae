"""Write the golden .fcs files of format version 1: ``python tests/container/make_golden.py``.

The files pin the format: test_fcs_golden.py checks that they still decode to exactly these
headers and tokens, and that the writer still produces them byte for byte. Never regenerate them
for version 1 after a change to the writer; a format change needs a new version and new files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt

from focalcli.container import FcsHeader, FcsWriter

GOLDEN_DIR = Path(__file__).with_name("golden")


def golden_tokens(channels: int, n: int, bits: int) -> npt.NDArray[np.int64]:
    """Deterministic tokens (no RNG): shape (channels, n), values in 0..2**bits - 1."""
    t = np.arange(n, dtype=np.int64)[None, :]
    c = np.arange(channels, dtype=np.int64)[:, None]
    return (t * 40503 + c * 9973 + 17) % (1 << bits)


# name -> (header, token count per channel, num_samples given at close, write chunk size)
CASES: dict[str, tuple[FcsHeader, int, int | None, int]] = {
    # a live stream: 12-bit, 80 ms packets, length unknown in the header and given at the end
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
        18,
        5760,
        4,
    ),
    # two channels, odd width and packet size, Unicode metadata, a literal sample rate
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
        23,
        None,
        5,
    ),
    # an empty 16-bit stream with a fractional token rate and the default packet size
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
        ),
        0,
        None,
        1,
    ),
}


def render(name: str) -> bytes:
    """The bytes of golden case ``name``, written in chunks as a streaming encoder would."""
    header, n, num_samples, chunk = CASES[name]
    toks = golden_tokens(header.channels, n, header.bits_per_token)
    out = io.BytesIO()
    writer = FcsWriter(out, header, flush_each_packet=True)
    for start in range(0, n, chunk):
        writer.write(toks[:, start : start + chunk])
    writer.close(num_samples)
    return out.getvalue()


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name in CASES:
        data = render(name)
        (GOLDEN_DIR / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
