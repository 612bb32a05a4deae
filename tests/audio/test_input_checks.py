"""Inputs a user should hear about: NaN/inf samples (read as 0), float beyond full scale
(clipped), clipped integer input (flagged), and WAVs whose data size field is 0 (read to the
end)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from focalcli.audio import input_warnings, open_audio_bytes, open_audio_file
from focalcli.audio.pcm import parse_pcm_format
from focalcli.audio.sources import RawPcmSource


def tone(seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (level * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def wav_bytes(sig: np.ndarray, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, sig, 16000, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_nan_and_inf_are_read_as_zero_and_counted(tmp_path: Path) -> None:
    sig = tone()
    sig[100:200] = np.nan
    sig[300] = np.inf
    sf.write(tmp_path / "nan.wav", sig, 16000, subtype="FLOAT")
    with open_audio_file(tmp_path / "nan.wav") as src:
        got = src.read_all()[0]
    assert np.isfinite(got).all()
    assert (got[100:200] == 0).all() and got[300] == 0
    np.testing.assert_array_equal(got[:100], tone()[:100])
    assert input_warnings(src) == ["101 NaN or infinite sample(s) read as 0"]


def test_float_beyond_full_scale_is_clipped_and_counted(tmp_path: Path) -> None:
    sf.write(tmp_path / "loud.wav", tone(level=2.0), 16000, subtype="FLOAT")
    with open_audio_file(tmp_path / "loud.wav") as src:
        got = src.read_all()
    assert np.abs(got).max() == 1.0
    expected = int(np.count_nonzero(np.abs(tone(level=2.0)) > 1.0))
    assert input_warnings(src) == [f"{expected} sample(s) beyond full scale (+-1) clipped"]


def test_clipped_integer_input_is_flagged_and_clean_input_is_not(tmp_path: Path) -> None:
    sf.write(tmp_path / "clip.wav", np.clip(tone(level=3.0), -1, 1), 16000, subtype="PCM_16")
    with open_audio_file(tmp_path / "clip.wav") as src:
        src.read_all()
    assert len(input_warnings(src)) == 1 and "probably clipped" in input_warnings(src)[0]
    peak = tone() / np.abs(tone()).max()  # normalised to full scale: not clipped
    sf.write(tmp_path / "peak.wav", peak, 16000, subtype="PCM_16")
    with open_audio_file(tmp_path / "peak.wav") as src:
        src.read_all()
    assert input_warnings(src) == []


def test_raw_float_pcm_is_checked_too() -> None:
    sig = tone(0.1)
    sig[5] = np.nan
    src = RawPcmSource(io.BytesIO(sig.astype("<f4").tobytes()), 16000, 1,
                       parse_pcm_format("32f"))
    assert np.isfinite(src.read_all()).all()
    assert input_warnings(src) == ["1 NaN or infinite sample(s) read as 0"]


def _open_ended(data: bytes, size: int) -> bytes:
    out = bytearray(data)
    pos = out.find(b"data")
    out[pos + 4 : pos + 8] = struct.pack("<I", size)
    out[4:8] = struct.pack("<I", size)
    return bytes(out)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_a_wav_with_an_open_ended_data_size_is_read_to_the_end(tmp_path: Path,
                                                               size: int) -> None:
    sig = tone(2.0)
    data = _open_ended(wav_bytes(sig), size)
    (tmp_path / "open.wav").write_bytes(data)
    expected = sf.read(io.BytesIO(wav_bytes(sig)), dtype="float32")[0]
    for src in (open_audio_bytes(data, "stdin"), open_audio_file(tmp_path / "open.wav")):
        with src:
            np.testing.assert_array_equal(src.read_all()[0], expected)
