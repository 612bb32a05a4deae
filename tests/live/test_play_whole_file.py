"""`focal play FILE`: a file is never late, whatever its packet size; the summary is printed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from live_testutil import Focal, speechlike

SUMMARY = re.compile(r"packets: (\d+) received, (\d+) lost, (\d+) late, (\d+) concealed")


def _summary(stderr: bytes) -> tuple[int, ...]:
    found = SUMMARY.search(stderr.decode())
    assert found, stderr.decode()
    return tuple(int(g) for g in found.groups())


@pytest.fixture
def long_fcs(focal: Focal, tmp_path: Path) -> Path:
    """9 s of speech-like audio in an .fcs with the default 4 s packets (3 packets)."""
    sf.write(tmp_path / "long.wav", speechlike(16000, 9.0, seed=3), 16000, subtype="PCM_16")
    focal("encode", "long.wav", "long.fcs")
    return tmp_path / "long.fcs"


def test_a_file_with_long_packets_plays_everything_like_decode(focal: Focal,
                                                               long_fcs: Path) -> None:
    focal("decode", long_fcs, "dec.wav")
    proc = focal("play", long_fcs, "-o", "play.wav")  # no -v: the summary is printed anyway
    received, lost, late, concealed = _summary(proc.stderr)
    assert (received, lost, late, concealed) == (3, 0, 0, 0)
    assert "concealed (0.00 s)" in proc.stderr.decode()
    dec, _ = sf.read(focal.cwd / "dec.wav", dtype="int16")
    out, rate = sf.read(focal.cwd / "play.wav", dtype="int16")
    assert rate == 16000 and len(out) == len(dec) == 9 * 16000
    np.testing.assert_array_equal(out, dec)


def test_simulated_jitter_on_long_packets_is_absorbed(focal: Focal, long_fcs: Path) -> None:
    """A live receiver waits for a whole packet: 4 s packets with 30 ms of jitter in a 40 ms
    buffer are not late (before, every packet after the first was)."""
    proc = focal("play", long_fcs, "-o", "play.wav", "--simulate-jitter", "30",
                 "--buffer-ms", "40", "--seed", "2")
    assert _summary(proc.stderr)[2:] == (0, 0)


def test_the_summary_of_a_live_stream_is_printed_without_v(focal: Focal,
                                                           long_fcs: Path) -> None:
    proc = focal("play", "-", "-o", "play.wav", input=long_fcs.read_bytes())
    assert _summary(proc.stderr)[:2] == (3, 0)
    assert focal("play", "-q", long_fcs, "-o", "-").stderr == b""
