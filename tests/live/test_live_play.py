"""`focal play`: equals decode when nothing is lost; survives any cut; conceals losses smoothly."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from live_testutil import Focal, error_lines, speechlike

from focalcli.audio.sinks import AudioSink
from focalcli.container import FcsError, FcsReader
from focalcli.live.netsim import NetworkSimulation
from focalcli.live.player import Player


class ListSink(AudioSink):
    def __init__(self, rate: int) -> None:
        self.sample_rate = rate
        self.channels = 1
        self.parts: list[np.ndarray] = []

    def write(self, sig: np.ndarray) -> None:
        self.parts.append(sig)

    @property
    def sig(self) -> np.ndarray:
        return np.concatenate(self.parts, axis=1)[0] if self.parts else np.zeros(0, np.float32)


def play_bytes(data: bytes, codec: object, **kwargs: object) -> tuple[np.ndarray, object]:
    sink = ListSink(16000)
    player = Player(FcsReader(io.BytesIO(data)), codec, sink, **kwargs)  # type: ignore[arg-type]
    stats = player.play_file()
    return sink.sig, stats


@pytest.fixture
def stream_20ms(focal: Focal, speech_wav: Path) -> bytes:
    return focal("stream", "-i", speech_wav, "--packet-ms", "20").stdout


def test_play_without_loss_equals_decode(focal: Focal, speech_wav: Path) -> None:
    focal("stream", "-i", speech_wav, "-o", "a.fcs")
    focal("decode", "a.fcs", "dec.wav")
    proc = focal("play", "a.fcs", "-o", "play.wav")
    dec, _ = sf.read(focal.cwd / "dec.wav", dtype="float32")
    out, rate = sf.read(focal.cwd / "play.wav", dtype="float32")
    assert rate == 16000 and len(out) == len(dec) == sf.info(speech_wav).frames
    np.testing.assert_array_equal(out, dec)
    line = proc.stderr.decode()
    for word in ("latency", "received", "lost", "concealed", "underruns"):
        assert word in line
    raw = focal("play", "a.fcs", "-o", "-", "-q").stdout
    as_int, _ = sf.read(focal.cwd / "play.wav", dtype="int16")
    # raw PCM and libsndfile's WAV round float -> int16 each their own way: within one step
    assert np.abs(np.frombuffer(raw, "<i2").astype(int) - as_int).max() <= 1


def test_play_on_a_stream_cut_at_any_byte(focal: Focal, tiny_codec: object) -> None:
    sf.write(focal.cwd / "short.wav", speechlike(16000, 0.5), 16000)
    data = focal("stream", "-i", "short.wav", "--packet-ms", "20").stdout
    full, _ = play_bytes(data, tiny_codec)
    header_bytes = FcsReader(io.BytesIO(data)).header_bytes
    for cut in range(len(data) + 1):
        try:
            sig, stats = play_bytes(data[:cut], tiny_codec)
        except FcsError:
            assert cut < header_bytes
            continue
        assert cut >= header_bytes
        # the header knows the length: the lost end is concealed, but never beyond what the
        # packets present justify (the tokens read plus two packets, issue 18)
        assert len(sig) == min(len(full), justified_samples(data[:cut]))
        assert np.isfinite(sig).all()
        if cut == len(data):
            np.testing.assert_array_equal(sig, full)


def test_play_cut_stream_from_the_command_line(focal: Focal, stream_20ms: bytes) -> None:
    (focal.cwd / "half.fcs").write_bytes(stream_20ms[: len(stream_20ms) // 2])
    focal("play", "half.fcs", "-o", "half.wav")
    frames = sf.info(focal.cwd / "half.wav").frames
    assert frames == justified_samples(stream_20ms[: len(stream_20ms) // 2]) < 32000
    (focal.cwd / "head.fcs").write_bytes(stream_20ms[:5])
    proc = focal("play", "head.fcs", "-o", "head.wav", expect=5)
    assert len(error_lines(proc)) == 1 and not (focal.cwd / "head.wav").exists()


def justified_samples(data: bytes) -> int:
    """Output samples (16 kHz) a cut-off stream may give: FcsReader.num_samples at 16 kHz."""
    reader = FcsReader(io.BytesIO(data))
    reader.read_all()
    assert reader.num_samples is not None
    return reader.num_samples * 16000 // reader.header.source_sample_rate


def level_jumps(sig: np.ndarray, edge: int = 320, win: int = 80) -> np.ndarray:
    """|RMS of the 5 ms after - RMS of the 5 ms before| at every packet edge."""
    edges = np.arange(edge, len(sig) - win, edge)
    before = np.array([np.sqrt(np.mean(sig[e - win : e] ** 2)) for e in edges])
    after = np.array([np.sqrt(np.mean(sig[e : e + win] ** 2)) for e in edges])
    return np.abs(after - before)


@pytest.mark.parametrize("loss", [10, 30])
@pytest.mark.parametrize("model", ["random", "bursty"])
def test_concealment_keeps_length_and_level_continuous(stream_20ms: bytes, tiny_codec: object,
                                                       loss: int, model: str) -> None:
    clean, _ = play_bytes(stream_20ms, tiny_codec)
    sig, stats = play_bytes(stream_20ms, tiny_codec,
                            network=NetworkSimulation(loss, model, 0.0, seed=loss))
    assert len(sig) == len(clean) == 32000
    lost = stats.lost  # type: ignore[attr-defined]
    assert 0.4 * loss <= lost <= 2.0 * loss  # of 100 packets of 20 ms
    assert np.isfinite(sig).all() and np.abs(sig).max() <= 1.0
    # No click: the step across a packet edge is no larger than the clean signal's steps.
    steps = np.abs(sig[320::320] - sig[319:-1:320])
    assert steps.max() <= 1.25 * float(np.abs(np.diff(clean)).max())
    # No jump in level at packet edges beyond what the clean signal itself has (its syllable
    # onsets): a concealment that switched to silence would jump by about the whole level.
    ref = float(np.sqrt(np.mean(clean**2)))
    assert level_jumps(sig).max() / ref <= 1.25 * level_jumps(clean).max() / ref + 0.02
    # Lost audio is concealed, not silenced: the output keeps most of the clean energy.
    assert np.sqrt(np.mean(sig**2)) > 0.5 * ref


def test_live_pipe_with_jitter_and_loss(focal: Focal, speech_wav: Path) -> None:
    stream = focal.popen("stream", "-i", speech_wav, "--realtime", "--packet-ms", "40",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    play = focal.popen("play", "-", "-o", "-", "-v", "--simulate-loss", "10",
                       "--simulate-jitter", "30", "--seed", "1", stdin=stream.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert stream.stdout is not None
    stream.stdout.close()
    out, err = play.communicate(timeout=60)
    stream.wait(timeout=10)
    text = err.decode()
    assert play.returncode == 0 and stream.returncode == 0, text
    assert len(out) == 2 * sf.info(speech_wav).frames
    assert "received" in text and "underruns" in text and "Traceback" not in text


def test_play_errors_are_one_line(focal: Focal, tmp_path: Path) -> None:
    (tmp_path / "text.fcs").write_text("not a stream at all\n")
    proc = focal("play", "text.fcs", "-o", "x.wav", expect=5)
    assert len(error_lines(proc)) == 1
    proc = focal("play", "missing.fcs", "-o", "x.wav", expect=3)
    assert error_lines(proc) == ["focal: error: missing.fcs: no such file"]
    proc = focal("play", "missing.fcs", "-o", "x.mp3", expect=2)
    assert len(error_lines(proc)) == 1


def test_info_of_play_stats_json_free(focal: Focal) -> None:
    # `focal devices --json` is machine-readable even when no device exists
    proc = focal("devices", "--json", env={"PULSE_SERVER": "unix:/nonexistent"})
    assert isinstance(json.loads(proc.stdout), list)


def test_corrupt_packets_are_concealed(stream_20ms: bytes, tiny_codec: object) -> None:
    clean, _ = play_bytes(stream_20ms, tiny_codec)
    data = bytearray(stream_20ms)
    for pos in (len(data) // 4, len(data) // 2, len(data) // 2 + 3):
        data[pos] ^= 0x5A
    sig, stats = play_bytes(bytes(data), tiny_codec)
    assert len(sig) == len(clean)
    assert stats.lost >= 2  # type: ignore[attr-defined]
    assert stats.jitter.concealed_tokens >= 2  # type: ignore[attr-defined]
    assert level_jumps(sig).max() <= 1.25 * level_jumps(clean).max() + 1e-3


def test_jitter_within_the_buffer_is_absorbed_and_beyond_it_concealed(
        stream_20ms: bytes, tiny_codec: object) -> None:
    clean, _ = play_bytes(stream_20ms, tiny_codec)
    jittery = NetworkSimulation(0, "random", jitter_ms=60, seed=5)
    sig, stats = play_bytes(stream_20ms, tiny_codec, buffer_ms=70, network=jittery)
    assert stats.jitter.late == 0 and stats.jitter.concealed_tokens == 0  # type: ignore[attr-defined]
    np.testing.assert_array_equal(sig, clean)  # reordered and delayed, yet bit-exact
    sig, stats = play_bytes(stream_20ms, tiny_codec, buffer_ms=10, network=jittery)
    assert stats.jitter.late > 0 and stats.jitter.concealed_tokens > 0  # type: ignore[attr-defined]
    assert len(sig) == len(clean)
