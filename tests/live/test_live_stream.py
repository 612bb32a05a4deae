"""`focal stream`: the bytes over a file equal `focal encode`'s; stdin, pacing, Ctrl-C, loss."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from live_testutil import Focal, error_lines, speechlike


@pytest.mark.parametrize("packet_ms", ["20", "80", "100"])
def test_stream_over_a_file_gives_the_bytes_of_encode(focal: Focal, speech_wav: Path,
                                                      packet_ms: str) -> None:
    streamed = focal("stream", "-i", speech_wav, "--packet-ms", packet_ms,
                     "--precision", "fp32", "--framing", "sync").stdout
    focal("encode", speech_wav, "e.fcs", "--packet-ms", packet_ms)
    assert streamed == (focal.cwd / "e.fcs").read_bytes()
    focal("stream", "-i", speech_wav, "-o", "s.fcs", "--packet-ms", packet_ms,
          "--precision", "fp32", "--framing", "sync")
    assert (focal.cwd / "s.fcs").read_bytes() == streamed


def test_stream_over_a_resampled_stereo_file_gives_the_bytes_of_encode(focal: Focal) -> None:
    sig = speechlike(44100, 1.3)
    sf.write(focal.cwd / "st.flac", np.stack([sig, 0.5 * sig], axis=1), 44100)
    streamed = focal("stream", "-i", "st.flac", "--packet-ms", "80", "--precision", "fp32",
                     "--framing", "sync").stdout
    focal("encode", "st.flac", "e.fcs", "--packet-ms", "80")
    assert streamed == (focal.cwd / "e.fcs").read_bytes()


def test_default_packet_is_one_chunk_and_stdin_wav_streams(focal: Focal,
                                                           speech_wav: Path) -> None:
    out = focal("stream", "-i", "-", input=speech_wav.read_bytes()).stdout
    (focal.cwd / "in.fcs").write_bytes(out)
    info = json.loads(focal("info", "--json", "in.fcs").stdout)
    assert info["packet_ms"] == 80 and info["complete"] and info["integrity"] == "ok"
    assert info["num_samples"] == sf.info(speech_wav).frames
    focal("decode", "in.fcs", "in.wav")
    assert sf.info(focal.cwd / "in.wav").frames == sf.info(speech_wav).frames


def test_realtime_paces_and_duration_stops(focal: Focal, speech_wav: Path) -> None:
    start = time.monotonic()
    focal("stream", "-i", speech_wav, "--realtime", "--duration", "1", "-o", "d.fcs")
    assert time.monotonic() - start >= 1.0
    info = json.loads(focal("info", "--json", "d.fcs").stdout)
    assert info["complete"] and info["num_samples"] == 16000


def test_ctrl_c_ends_the_stream_with_a_valid_end_marker(focal: Focal, tmp_path: Path) -> None:
    sf.write(tmp_path / "long.wav", speechlike(16000, 20.0), 16000)
    proc = focal.popen("stream", "-i", "long.wav", "--realtime", "-v",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "focal: streaming ..." once the model is loaded
    assert first.startswith(b"focal: streaming"), first
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    (tmp_path / "cut.fcs").write_bytes(out)
    info = json.loads(focal("info", "--json", "cut.fcs").stdout)
    assert info["complete"] and info["integrity"] == "ok"
    assert 0 < info["duration"] < 10


def test_simulated_loss_on_the_sending_side(focal: Focal, speech_wav: Path) -> None:
    focal("stream", "-i", speech_wav, "-o", "lossy.fcs", "--simulate-loss", "30",
          "--seed", "3", "--packet-ms", "20")
    info = json.loads(focal("info", "--json", "lossy.fcs", expect=4).stdout)
    assert info["complete"] and info["damaged"] and info["lost_seconds"] > 0.2
    focal("play", "lossy.fcs", "-o", "lossy.wav")
    assert sf.info(focal.cwd / "lossy.wav").frames == sf.info(speech_wav).frames


def test_usage_errors_are_one_line(focal: Focal, speech_wav: Path) -> None:
    proc = focal("stream", "-i", "mic", "--realtime", expect=2)
    assert len(error_lines(proc)) == 1
    proc = focal("stream", "-i", speech_wav, "--device", "0", expect=2)
    assert len(error_lines(proc)) == 1
    proc = focal("stream", "-i", "missing.wav", expect=3)
    assert error_lines(proc) == ["focal: error: missing.wav: no such file"]
