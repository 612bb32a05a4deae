"""Broken pipes end quietly (141); Ctrl-C and SIGTERM leave no partial output (130, 143)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli_testutil import Run


def _popen(args: list[str], cwd: Path, tiny_model: Path, **kw: object) -> subprocess.Popen:
    env = dict(os.environ, FOCAL_MODEL=str(tiny_model), FOCAL_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "focalcli", *args], cwd=cwd, env=env,
                            **kw)  # type: ignore[call-overload]


def test_broken_pipe_ends_quietly(run: Run, tmp_path: Path, tiny_model: Path,
                                  speech_files: list[Path]) -> None:
    run("encode", speech_files[0], "a.fcs", expect=0)
    # float samples at 48 kHz: far more than a pipe buffer, so the write must fail
    proc = _popen(["decode", "a.fcs", "-", "--rate", "48000", "--bits", "32f"], tmp_path,
                  tiny_model, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert len(head) == 100 and err == b""


def _default_signals() -> None:
    """As in a foreground terminal: a runner started in the background (`cmd &` without job
    control) passes SIGINT down as ignored, and Python keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(sig: int, tmp_path: Path, tiny_model: Path) -> tuple[int, list[str], bytes]:
    """Start a raw-stdin encode into out.fcs, signal it once its temporary file exists."""
    proc = _popen(["encode", "--raw", "-r", "16000", "-", "out.fcs"], tmp_path, tiny_model,
                  stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_signals)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"\0" * 64000)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.fcs.*.part")):
        assert time.monotonic() < deadline and proc.poll() is None, "no temporary output"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    code = proc.wait(timeout=30)
    proc.stdin.close()
    return code, sorted(p.name for p in tmp_path.iterdir()), proc.stderr.read()


def test_ctrl_c_removes_partial_output(tmp_path: Path, tiny_model: Path) -> None:
    code, left, err = _interrupt(signal.SIGINT, tmp_path, tiny_model)
    assert code == 130 and left == [] and b"Traceback" not in err


def test_sigterm_removes_partial_output(tmp_path: Path, tiny_model: Path) -> None:
    code, left, err = _interrupt(signal.SIGTERM, tmp_path, tiny_model)
    assert code == 143 and left == [] and b"Traceback" not in err
