"""Real sound devices: a loopback through the sound server's null sink, and no device at all.

`focal play` plays into the default sink while `focal stream --input mic` records its monitor;
what came back, decoded, must correlate with what was played once the delay is compensated.
These tests need a sound server (scripts/start-sound-server.sh); they skip without one except
under CI, where the fixture starts it.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import soundfile as sf
from live_testutil import Focal, best_lag_correlation, error_lines

NO_SERVER = {"PULSE_SERVER": "unix:/nonexistent/focal-test"}


def test_no_sound_device_gives_a_one_line_error(focal: Focal, speech_wav: Path) -> None:
    proc = focal("stream", "--input", "mic", "-o", "x.fcs", env=NO_SERVER, expect=3)
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert error_lines(proc)[0].startswith("focal: error: mic: no sound input device")
    assert not (focal.cwd / "x.fcs").exists()
    focal("stream", "-i", speech_wav, "-o", "a.fcs")
    proc = focal("play", "a.fcs", env=NO_SERVER, expect=6)
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert error_lines(proc)[0].startswith("focal: error: speaker: no sound output device")
    proc = focal("devices", env=NO_SERVER, expect=1)
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_devices_lists_the_server(focal: Focal, sound_server: None) -> None:
    listed = json.loads(focal("devices", "--json").stdout)
    assert any(d["max_input_channels"] > 0 for d in listed)
    assert any(d["max_output_channels"] > 0 for d in listed)
    table = focal("devices").stdout.decode()
    assert "INDEX" in table and "*" in table


def test_stream_and_play_through_the_sound_server(focal: Focal, sound_server: None,
                                                  speech_wav: Path) -> None:
    # The reference: what `focal play` makes of the stream, written to a file.
    focal("stream", "-i", speech_wav, "-o", "sent.fcs")
    focal("play", "sent.fcs", "-o", "ref.wav")
    ref, rate = sf.read(focal.cwd / "ref.wav", dtype="float32")
    # Record the sink's monitor with `focal stream --input mic` while a live
    # `focal stream --realtime | focal play` plays into the sink.
    recorder = focal.popen("stream", "--input", "mic", "--duration", "8", "-o", "rec.fcs",
                           "-v", stderr=subprocess.PIPE)
    rec_lines: list[bytes] = []
    recording = threading.Event()

    def watch() -> None:  # the recorder says "focal: streaming ..." once the device is open
        assert recorder.stderr is not None
        for line in recorder.stderr:
            rec_lines.append(line)
            if line.startswith(b"focal: streaming"):
                recording.set()
        recording.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert recording.wait(timeout=120), b"".join(rec_lines).decode()
    sender = focal.popen("stream", "-i", speech_wav, "--realtime", stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    player = focal.popen("play", "-v", stdin=sender.stdout, stderr=subprocess.PIPE)
    assert sender.stdout is not None
    sender.stdout.close()
    _, play_err = player.communicate(timeout=60)
    sender.wait(timeout=10)
    recorder.wait(timeout=60)
    watcher.join(timeout=10)
    rec_err = b"".join(rec_lines)
    assert player.returncode == 0, play_err.decode()
    assert recorder.returncode == 0, rec_err.decode()
    assert "received" in play_err.decode()
    # What came back: decode it and find the played signal in it.
    focal("decode", "rec.fcs", "rec.wav")
    rec, rec_rate = sf.read(focal.cwd / "rec.wav", dtype="float32")
    assert rec_rate == rate and len(rec) > len(ref)
    lag, corr = best_lag_correlation(ref, rec)
    assert corr > 0.6, (lag / rate, corr)
    level = float(np.sqrt(np.mean(rec[lag : lag + len(ref)] ** 2)))
    assert level > 0.3 * float(np.sqrt(np.mean(ref**2)))
