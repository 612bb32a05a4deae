"""focalcli.audio: PCM conversions, resampling lengths, downmix, sources and sinks."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from focalcli.audio import (
    AudioError,
    RawPcmSink,
    RawPcmSource,
    SoundFileSink,
    StreamResampler,
    downmix,
    fit_length,
    open_audio_bytes,
    open_audio_file,
    parse_pcm_format,
    resample,
    scaled_length,
)
from focalcli.audio.pcm import PCM_FORMATS


@pytest.mark.parametrize("name", list(PCM_FORMATS))
@pytest.mark.parametrize("channels", [1, 3])
def test_pcm_round_trip(name: str, channels: int) -> None:
    fmt = parse_pcm_format(name)
    rng = np.random.default_rng(0)
    sig = rng.uniform(-1, 1, (channels, 101)).astype(np.float32)
    data = fmt.sig_to_bytes(sig)
    assert len(data) == 101 * channels * fmt.bytes_per_sample
    back = fmt.bytes_to_sig(data, channels)
    assert back.shape == sig.shape and back.dtype == np.float32
    assert np.max(np.abs(back - sig)) <= 1.0 / (1 << (fmt.bits - 1)) + 1e-7


def test_pcm_matches_soundfile_and_clips() -> None:
    sig = np.array([[-2.0, -1.0, -0.5, 0.0, 0.5, 0.999, 2.0]], dtype=np.float32)
    for name, subtype in (("16", "PCM_16"), ("8", "PCM_U8")):
        fmt = parse_pcm_format(name)
        buf = io.BytesIO()
        sf.write(buf, np.clip(sig, -1, 1).T, 8000, format="RAW", subtype=subtype)
        assert fmt.sig_to_bytes(sig) == buf.getvalue(), name


def test_parse_pcm_format_rejects() -> None:
    with pytest.raises(ValueError, match="unknown sample format"):
        parse_pcm_format("12")


@pytest.mark.parametrize("rates", [(44100, 16000), (8000, 16000), (48000, 24000), (16000, 16000)])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 999, 44100])
def test_resample_lengths(rates: tuple[int, int], n: int) -> None:
    a, b = rates
    sig = np.random.default_rng(1).standard_normal((2, n)).astype(np.float32) * 0.1
    out = resample(sig, a, b)
    assert out.shape == (2, scaled_length(n, a, b))
    stream = StreamResampler(a, b, 2)
    parts = [stream.push(sig[:, i : i + 700]) for i in range(0, n, 700)] + [stream.flush()]
    joined = np.concatenate(parts, axis=1)
    assert joined.shape == out.shape


def test_resample_keeps_a_tone() -> None:
    t = np.arange(44100) / 44100
    sig = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None]
    out = resample(sig, 44100, 16000)
    ref = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.max(np.abs(out[0, 200:-200] - ref[200:-200])) < 1e-3


def test_downmix_and_fit_length() -> None:
    sig = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert downmix(sig).tolist() == [[0.5, 0.5]]
    assert downmix(sig[:1]) is not None and downmix(sig[:1]).shape == (1, 2)
    assert fit_length(sig, 3).shape == (2, 3) and fit_length(sig, 1).shape == (2, 1)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_file_source_reads_subtypes(tmp_path, subtype: str) -> None:
    path = tmp_path / "x.wav"
    sig = (np.linspace(-0.5, 0.5, 300, dtype=np.float32)[None]).repeat(2, axis=0)
    sf.write(path, sig.T, 8000, subtype=subtype)
    with open_audio_file(path) as src:
        assert (src.sample_rate, src.channels, src.num_frames) == (8000, 2, 300)
        blocks = list(src.blocks(128))
    assert [b.shape[1] for b in blocks] == [128, 128, 44]
    assert np.allclose(np.concatenate(blocks, axis=1), sig, atol=1 / 100)


def test_file_source_errors(tmp_path) -> None:
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="not a readable audio file"):
        open_audio_file(text)
    with pytest.raises(AudioError, match="empty file"):
        open_audio_file(empty)
    with pytest.raises(AudioError, match="no such file"):
        open_audio_file(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="is a directory"):
        open_audio_file(tmp_path)
    with pytest.raises(AudioError, match="no data"):
        open_audio_bytes(b"", "stdin")


def test_zero_sample_wav(tmp_path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000)
    with open_audio_file(path) as src:
        assert src.num_frames == 0
        assert src.read_all().shape == (1, 0)


class _Trickle(io.RawIOBase):
    """A pipe that hands out at most 5 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = min(5, len(buf), len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_raw_source_short_reads_and_stray_bytes() -> None:
    fmt = parse_pcm_format("16")
    sig = np.linspace(-0.5, 0.5, 2 * 37, dtype=np.float32).reshape(37, 2).T.copy()
    data = fmt.sig_to_bytes(sig) + b"\x01"
    src = RawPcmSource(_Trickle(data), 8000, 2, fmt)  # type: ignore[arg-type]
    got = src.read_all()
    assert got.shape == (2, 37)
    assert np.allclose(got, sig, atol=1e-4)
    assert src.stray_bytes == 1


def test_sinks(tmp_path) -> None:
    sig = np.linspace(-1.5, 1.5, 200, dtype=np.float32).reshape(2, 100)
    for fmt, bits in (("wav", "16"), ("wav", "32f"), ("flac", "24"), ("flac", "8")):
        path = tmp_path / f"o{bits}.{fmt}"
        with SoundFileSink(str(path), fmt, 24000, 2, parse_pcm_format(bits)) as sink:
            sink.write(sig[:, :60])
            sink.write(sig[:, 60:])
        back, rate = sf.read(path, always_2d=True)
        assert rate == 24000 and back.shape == (100, 2)
        assert back.max() <= 1.0 and back.min() >= -1.0
    with pytest.raises(AudioError, match="FLAC cannot store"):
        SoundFileSink(str(tmp_path / "x.flac"), "flac", 8000, 1, parse_pcm_format("32f"))
    buf = io.BytesIO()
    RawPcmSink(buf, 8000, 2, parse_pcm_format("16")).write(sig)
    assert len(buf.getvalue()) == 400


class _Collect(RawPcmSink):
    def __init__(self) -> None:
        self.sample_rate, self.channels, self.parts = 8000, 1, []

    def write(self, sig: np.ndarray) -> None:
        self.parts.append(sig)


@pytest.mark.parametrize(("known_early", "length"), [
    (True, 0), (True, 5), (True, 250), (True, 400),
    # known only at the end: the true end lies within the held-back tail (or beyond)
    (False, 260), (False, 300), (False, 400),
])
def test_exact_length(known_early: bool, length: int) -> None:
    from focalcli.audio import ExactLength

    sink = _Collect()
    trim = ExactLength(sink, 1, hold=50)
    for _ in range(3):  # 300 samples in, maybe more than the true length
        trim.put(np.ones((1, 100), np.float32), length if known_early else None)
        if not known_early:
            assert sum(p.shape[1] for p in sink.parts) <= max(0, 300 - 50)
    trim.finish(length)
    out = np.concatenate(sink.parts, axis=1) if sink.parts else np.zeros((1, 0))
    assert out.shape == (1, length)
    # the missing end repeats the last sample written, as the reference pads its output
    assert (out[0, :min(length, 300)] == 1).all() and (out[0, 300:] == 1).all()
