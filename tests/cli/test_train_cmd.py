"""`focal train` and `focal export-model` in subprocesses: one-line errors with the usual exit
statuses, and a real two-step run of a tiny codec on synthesized audio, exported and used."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import error_lines


def focal(*args: str | Path, cwd: Path, expect: int | None = None) -> subprocess.CompletedProcess:
    # FOCAL_TRAIN_DIR: a run without --run-dir must never land in the real ~/.cache/focal/train.
    env = dict(os.environ, FOCAL_TRAIN_DIR=str(cwd / "train-root"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "focalcli", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    if expect is not None:
        assert proc.returncode == expect, (proc.returncode, proc.stderr)
    return proc


def one_error(proc: subprocess.CompletedProcess) -> str:
    lines = error_lines(subprocess.CompletedProcess(proc.args, proc.returncode,
                                                    proc.stdout.encode(), proc.stderr.encode()))
    assert len(lines) == 1 and proc.stderr.strip() == lines[0], proc.stderr
    return lines[0]


def _synth(f0: float, seed: int) -> np.ndarray:
    """One second of a vowel-like harmonic signal (as in tests/train/test_train_smoke.py)."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))) / 16000
    sig = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.0 * t)) ** 2
    return (0.05 * sig * env + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """A training config for the tiny test codec on three synthesized files in a folder."""
    from focalcli.model.testing import TINY_CONFIG

    audio = tmp_path / "audio"
    audio.mkdir()
    for i, f0 in enumerate((110.0, 180.0, 240.0)):
        sf.write(audio / f"s{i}.wav", _synth(f0, i), 16000)
    cfg = {
        "name": "tiny", "seed": 0, "steps": 12, "batch_size": 2, "threads": 1,
        "model": copy.deepcopy(TINY_CONFIG),
        "data": {"manifest": None, "folders": [str(audio)], "crop_seconds": 0.32},
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "loss": {"quant_ramp": [0, 6], "fft_sizes": [256, 512], "n_mels": [32, 64]},
        "log_every": 1,
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    return path


def test_help(tmp_path: Path) -> None:
    for cmd in ("train", "export-model"):
        proc = focal(cmd, "--help", cwd=tmp_path, expect=0)
        assert proc.stdout.startswith(f"Usage: focal {cmd} ")


def test_config_errors_are_one_line_with_status_3(tmp_path: Path) -> None:
    assert one_error(focal("train", "missing.json", cwd=tmp_path, expect=3)) == \
        "focal: error: missing.json: no such file"
    (tmp_path / "typo.json").write_text('{"stepz": 3}')
    assert "unknown keys ['stepz']" in one_error(focal("train", "typo.json", cwd=tmp_path,
                                                       expect=3))
    (tmp_path / "broken.json").write_text('{"steps": ')
    assert "not valid JSON" in one_error(focal("train", "broken.json", cwd=tmp_path, expect=3))
    (tmp_path / "list.json").write_text("[]")
    one_error(focal("train", "list.json", cwd=tmp_path, expect=3))
    assert not (tmp_path / "train-root").exists()


def test_data_and_run_dir_errors(tmp_path: Path, tiny_config: Path) -> None:
    cfg = json.loads(tiny_config.read_text())
    cfg["data"]["folders"] = [str(tmp_path / "nowhere")]
    (tmp_path / "nodata.json").write_text(json.dumps(cfg))
    assert "no such folder" in one_error(focal("train", "nodata.json", cwd=tmp_path, expect=3))
    (tmp_path / "afile").write_text("")
    assert one_error(focal("train", tiny_config, "--run-dir", "afile", cwd=tmp_path,
                           expect=6)).endswith("not a directory (the run folder)")


def test_freeze_of_an_unknown_module_is_an_input_error(tmp_path: Path, tiny_config: Path) -> None:
    cfg = json.loads(tiny_config.read_text())
    cfg["optim"]["freeze"] = ["encodr"]
    (tmp_path / "frozen.json").write_text(json.dumps(cfg))
    msg = one_error(focal("train", "frozen.json", cwd=tmp_path, expect=3))
    assert msg == "focal: error: frozen.json: optim.freeze: no parameter is named 'encodr'"


def test_data_folder_may_start_with_tilde(tmp_path: Path, tiny_config: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the fixture's audio is in tmp_path/audio
    cfg = json.loads(tiny_config.read_text())
    cfg["data"]["folders"] = ["~/audio"]
    (tmp_path / "home.json").write_text(json.dumps(cfg))
    proc = focal("train", "home.json", "--steps", "1", "--run-dir", "run", cwd=tmp_path,
                 expect=0)
    assert "(3 audio files, to step 1)" in proc.stderr


def test_export_errors(tmp_path: Path) -> None:
    assert one_error(focal("export-model", "none.pt", "out", cwd=tmp_path, expect=3)) == \
        "focal: error: none.pt: no such file"
    (tmp_path / "run").mkdir()
    assert "no last.pt" in one_error(focal("export-model", "run", "out", cwd=tmp_path,
                                           expect=3))
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    assert "not a focal training checkpoint" in one_error(
        focal("export-model", "junk.pt", "out", cwd=tmp_path, expect=3))
    assert not (tmp_path / "out").exists()


class _Payload:
    """Unpickling this runs a command: a checkpoint must never be unpickled."""

    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


def test_export_never_unpickles_a_checkpoint(tmp_path: Path) -> None:
    import torch

    torch.save({"config": {}, "model": {}, "step": 1, "x": _Payload()}, tmp_path / "evil.pt")
    assert "not a focal training checkpoint" in one_error(
        focal("export-model", "evil.pt", "out", cwd=tmp_path, expect=3))
    assert not (tmp_path / "pwned").exists()


def test_train_two_steps_resume_and_export(tmp_path: Path, tiny_config: Path) -> None:
    proc = focal("train", tiny_config, "--run-dir", "run", "--steps", "2", "--threads", "1",
                 cwd=tmp_path, expect=0)
    last = tmp_path / "run" / "last.pt"
    assert proc.stdout.strip() == "run/last.pt" and last.is_file()
    assert "step 2" in proc.stderr  # the trainer's progress goes to stderr
    assert (tmp_path / "run" / "train_config.json").is_file()

    proc = focal("train", tiny_config, "--run-dir", "run", "--steps", "3", "-q", cwd=tmp_path,
                 expect=0)
    assert proc.stderr == "" and proc.stdout.strip() == "run/last.pt"
    import torch

    assert torch.load(last, map_location="cpu", weights_only=True)["step"] == 3  # resumed

    proc = focal("export-model", "run", "model", cwd=tmp_path, expect=0)
    assert proc.stdout.strip() == "model"
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "MODEL_CARD.md", "config.json", "model.safetensors"]
    assert "already exists" in one_error(focal("export-model", "run", "model", cwd=tmp_path,
                                               expect=6))
    focal("export-model", last, "model", "--force", "--name", "mine", "-q", cwd=tmp_path,
          expect=0)
    assert (tmp_path / "model" / "MODEL_CARD.md").read_text().startswith("# mine")
    assert not [p for p in tmp_path.iterdir() if "focal-tmp" in p.name]

    wav = tmp_path / "audio" / "s0.wav"
    focal("encode", wav, "s0.fcs", "--model", "model", cwd=tmp_path, expect=0)
    assert "model       model" in focal("info", "s0.fcs", cwd=tmp_path, expect=0).stdout

    focal("export-model", "run", "half", "--half", "-q", cwd=tmp_path, expect=0)
    sizes = [(tmp_path / d / "model.safetensors").stat().st_size for d in ("half", "model")]
    assert sizes[0] < 0.6 * sizes[1]
    focal("encode", wav, "s0h.fcs", "--model", "half", cwd=tmp_path, expect=0)


def module(*args: str | Path, cwd: Path, expect: int) -> subprocess.CompletedProcess:
    """``python -m focalcli.train ARGS``, the module name older scripts and jobs use."""
    env = dict(os.environ, FOCAL_TRAIN_DIR=str(cwd / "train-root"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "focalcli.train", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == expect, (proc.returncode, proc.stderr)
    return proc


def test_python_m_focalcli_train_is_focal_train(tmp_path: Path, tiny_config: Path) -> None:
    """One front door: the module runs `focal train` (and `export` runs `focal export-model`),
    with the same help, errors, exit statuses and outputs."""
    assert module("--help", cwd=tmp_path, expect=0).stdout == \
        focal("train", "--help", cwd=tmp_path, expect=0).stdout
    assert module("export", "--help", cwd=tmp_path, expect=0).stdout.startswith(
        "Usage: focal export-model ")
    assert one_error(module("missing.json", cwd=tmp_path, expect=3)) == \
        one_error(focal("train", "missing.json", cwd=tmp_path, expect=3))
    # the command line of a job started before `focal train` existed: CONFIG --run-dir DIR
    proc = module(tiny_config, "--run-dir", "run", "--steps", "1", cwd=tmp_path, expect=0)
    assert proc.stdout.strip() == "run/last.pt" and "step 1" in proc.stderr
    proc = module("export", "run", "model", "-q", cwd=tmp_path, expect=0)
    assert proc.stdout.strip() == "model" and (tmp_path / "model" / "config.json").is_file()


def test_ctrl_c_stops_with_a_checkpoint(tmp_path: Path, tiny_config: Path) -> None:
    env = dict(os.environ, FOCAL_TRAIN_DIR=str(tmp_path / "train-root"))
    proc = subprocess.Popen([sys.executable, "-m", "focalcli", "train", str(tiny_config),
                             "--run-dir", "run", "--steps", "100000"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it is training
        if "] step " in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err and "stopped at step" in err
    import torch

    step = torch.load(tmp_path / "run" / "last.pt", map_location="cpu",
                      weights_only=True)["step"]
    assert 1 <= step < 100000
