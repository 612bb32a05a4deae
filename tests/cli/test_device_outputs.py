"""Outputs that are not regular files, and outputs that fill up.

A FIFO or character device is written into (as sox and flac do), never replaced, with or
without --force; a full disk or device is the output error (exit 6, "No space left on
device") with nothing left behind.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines

import focalcli.audio.sinks as sinks
import focalcli.pipeline.outputs as outputs
from focalcli.cli import run as focal_run

ENOSPC_TEXT = "No space left on device"


@pytest.fixture
def fcs_file(run: Run, tmp_path: Path) -> Path:
    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    run("encode", "a.wav", "a.fcs", expect=0)
    return tmp_path / "a.fcs"


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def reader() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_force_writes_into_a_fifo_and_leaves_it_a_fifo(run: Run, fcs_file: Path,
                                                       tmp_path: Path, fmt: str) -> None:
    run("decode", fcs_file, f"ref.{fmt}", expect=0)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = _read_fifo(fifo, got)
    run("decode", fcs_file, fifo, "-F", fmt, "--force", expect=0)
    thread.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not replaced by a regular file
    assert got == [(tmp_path / f"ref.{fmt}").read_bytes()]


def test_a_fifo_needs_no_force_for_encode_or_play(run: Run, fcs_file: Path,
                                                  tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    for args, expected in ((("encode", "a.wav", fifo), fcs_file.read_bytes()),
                           (("play", fcs_file, "-o", fifo), None)):
        got: list[bytes] = []
        thread = _read_fifo(fifo, got)
        run(*args, expect=0)
        thread.join(30)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        if expected is not None:
            assert got == [expected]
        else:  # play -o FIFO without an extension: the name says nothing, so raw PCM
            assert len(got[0]) == 2 * 2 * 16000


def test_dev_null_is_an_output_with_or_without_force(run: Run, fcs_file: Path) -> None:
    before = os.stat(os.devnull)
    for extra in ((), ("--force",)):
        run("decode", fcs_file, os.devnull, "-F", "wav", *extra, expect=0)
        run("encode", "a.wav", os.devnull, *extra, expect=0)
        run("play", fcs_file, "-o", os.devnull, *extra, expect=0)
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_as_output_path_is_the_output_error(run: Run, fcs_file: Path) -> None:
    for args in (("decode", fcs_file, "/dev/full", "-F", "wav"),
                 ("decode", fcs_file, "/dev/full", "-F", "raw"),
                 ("encode", "a.wav", "/dev/full")):
        proc = run(*args, expect=6)
        assert error_lines(proc) == [f"focal: error: /dev/full: cannot write: {ENOSPC_TEXT}"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("args", [("decode", "a.fcs", "-", "-F", "wav"), ("encode", "a.wav", "-"),
                                  ("info", "a.fcs")])
def test_stdout_on_a_full_device_is_the_output_error(tiny_model: Path, fcs_file: Path,
                                                     tmp_path: Path, args: tuple[str, ...]
                                                     ) -> None:
    env = dict(os.environ, FOCAL_MODEL=str(tiny_model), HF_HUB_OFFLINE="1", FOCAL_THREADS="1")
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "focalcli", *args], stdout=full,
                              stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=120,
                              check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 6, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.splitlines() == [f"focal: error: stdout: cannot write: {ENOSPC_TEXT}"]


class _FillsUp:
    """A binary file that takes `room` bytes and then fails like a full disk."""

    def __init__(self, fh: Any, room: int) -> None:
        self._fh = fh
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FillsUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def _disk_fills_after(module: Any, room: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files `module` opens for writing take `room` bytes, then the disk is full."""
    real_open = open

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(file, mode, *args, **kwargs)
        return _FillsUp(fh, room) if "w" in mode else fh

    monkeypatch.setattr(module, "open", fake_open, raising=False)


@pytest.mark.parametrize(("fmt", "room"), [("wav", 20_000), ("flac", 0)])
def test_a_full_disk_while_writing_audio_removes_the_partial_file(
        tiny_model: Path, fcs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], fmt: str, room: int) -> None:
    monkeypatch.setenv("FOCAL_MODEL", str(tiny_model))
    monkeypatch.setenv("FOCAL_THREADS", "1")
    _disk_fills_after(sinks, room, monkeypatch)
    out = tmp_path / "out" / f"b.{fmt}"
    code = focal_run(["decode", str(fcs_file), str(out)])
    err = capsys.readouterr().err
    assert code == 6, err
    assert err.splitlines() == [f"focal: error: {out}: cannot write: {ENOSPC_TEXT}"]
    assert not (tmp_path / "out").exists()  # neither the file, its .part, nor the folder


def test_a_full_disk_while_writing_fcs_removes_the_partial_file(
        tiny_model: Path, fcs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FOCAL_MODEL", str(tiny_model))
    monkeypatch.setenv("FOCAL_THREADS", "1")
    _disk_fills_after(outputs, 10, monkeypatch)
    code = focal_run(["encode", str(tmp_path / "a.wav"), str(tmp_path / "b.fcs")])
    err = capsys.readouterr().err
    assert code == 6, err
    assert err.splitlines() == [f"focal: error: {tmp_path / 'b.fcs'}: cannot write: "
                                f"{ENOSPC_TEXT}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fcs", "a.wav"]
