"""Smaller points of issue 18: --packet-ms bounds, a quiet offline `models pull`, `info DIR`,
FIFOs in batch folders, and the warnings about NaN or open-ended WAV input on the CLI."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    sf.write(tmp_path / "a.wav", _tone(), 16000, subtype="PCM_16")
    return tmp_path / "a.wav"


def test_a_packet_longer_than_the_format_allows_is_a_usage_error(run: Run, wav: Path) -> None:
    for args in (("encode", wav, "x.fcs"), ("stream", "-i", wav, "-o", "x.fcs")):
        proc = run(*args, "--packet-ms", "100000000", expect=2)
        lines = error_lines(proc)
        assert len(lines) == 1 and "--packet-ms 100000000" in lines[0], lines
        assert "internal error" not in lines[0]
    sf.write(wav.parent / "three.wav", np.zeros((1600, 3), np.float32), 16000)
    proc = run("encode", "three.wav", "x.fcs", "--multichannel", "--packet-ms", "500000",
               expect=2)  # 25,000 tokens fit one channel, not three
    assert "25000 tokens x 3 channels" in error_lines(proc)[0]


def test_models_pull_offline_is_one_line_without_retries(run: Run, tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens there
           "HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    proc = run("-q", "models", "pull", "focalcodec_50hz", env=env, expect=7)
    err = proc.stderr.decode()
    assert len(err.splitlines()) == 1 and err.startswith("focal: error: "), err
    assert "Retry" not in err and "focal decode --model ./folder IN.fcs" in err


def test_info_takes_folders_like_decode(run: Run, wav: Path, tmp_path: Path) -> None:
    run("encode", wav, "dir/a.fcs", expect=0)
    run("encode", wav, "dir/sub/b.fcs", expect=0)
    proc = run("info", "dir", expect=0)
    out = proc.stdout.decode()
    assert "dir/a.fcs:" in out and os.path.join("dir", "sub", "b.fcs") + ":" in out
    docs = json.loads(run("info", "dir", "--json", expect=0).stdout)
    assert [d["file"] for d in docs] == ["dir/a.fcs", "dir/sub/b.fcs"]
    (tmp_path / "none").mkdir()
    assert error_lines(run("info", "none", expect=3))[0].startswith("focal: error: none: no ")


def test_a_fifo_in_a_batch_folder_is_skipped_by_name_not_called_empty(run: Run, wav: Path,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    os.replace(wav, tmp_path / "in" / "a.wav")
    os.mkfifo(tmp_path / "in" / "pipe.wav")
    proc = run("encode", "in", "-d", "out", expect=1)  # returns: nothing waits on the FIFO
    lines = error_lines(proc)
    assert len(lines) == 1 and "in/pipe.wav: a FIFO, not a regular file" in lines[0], lines
    assert "empty" not in lines[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.fcs"]


def test_nan_input_warns_once_and_codes_as_silence(run: Run, tmp_path: Path) -> None:
    sig = _tone()
    sig[1000:1100] = np.nan
    sf.write(tmp_path / "nan.wav", sig, 16000, subtype="FLOAT")
    sig[1000:1100] = 0
    sf.write(tmp_path / "zero.wav", sig, 16000, subtype="FLOAT")
    proc = run("encode", "nan.wav", "nan.fcs", expect=0)
    assert proc.stderr.decode().splitlines() == [
        "focal: warning: nan.wav: 100 NaN or infinite sample(s) read as 0"]
    run("encode", "zero.wav", "zero.fcs", expect=0)
    assert (tmp_path / "nan.fcs").read_bytes() == (tmp_path / "zero.fcs").read_bytes()


def test_a_piped_wav_with_data_size_0_is_read_to_the_end(run: Run, wav: Path) -> None:
    data = bytearray(wav.read_bytes())
    pos = data.find(b"data")
    data[pos + 4 : pos + 8] = struct.pack("<I", 0)  # as streaming writers leave it
    piped = run("encode", "-", input=bytes(data), expect=0).stdout
    assert piped == run("encode", wav, "-", expect=0).stdout
    info = json.loads(run("info", "-", "--json", input=piped, expect=0).stdout)
    assert info["source_samples"] == len(sf.read(io.BytesIO(wav.read_bytes()))[0])
