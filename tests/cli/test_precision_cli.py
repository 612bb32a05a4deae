"""`--precision` through the CLI: it reaches the model in encode, decode, stream and play."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines

from focalcli.container import FcsReader


def tokens(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        return FcsReader(fh).read_all()[0]


@pytest.fixture
def voiced(tmp_path: Path) -> Path:
    t = np.arange(32000) / 16000
    sig = 0.3 * np.sin(2 * np.pi * (150 + 30 * np.sin(2 * np.pi * 2 * t)) * t)
    sf.write(tmp_path / "voiced.wav", sig * (1 + np.sin(2 * np.pi * 3 * t)) / 2, 16000)
    return tmp_path / "voiced.wav"


def test_precision_reaches_the_bundled_model(run: Run, voiced: Path, tmp_path: Path) -> None:
    env = {"FOCAL_MODEL": "focal-small"}
    run("encode", voiced, "fp32.fcs", env=env, expect=0)
    run("encode", voiced, "bf16.fcs", "--precision", "bf16", env=env, expect=0)
    run("encode", voiced, "int8.fcs", env={**env, "FOCAL_PRECISION": "int8"}, expect=0)
    ref = tokens(tmp_path / "fp32.fcs")
    for name in ("bf16", "int8"):
        toks = tokens(tmp_path / f"{name}.fcs")
        assert toks.shape == ref.shape
        assert 0.9 <= float((toks == ref).mean()) < 1.0  # reduced, yet close
    run("decode", "fp32.fcs", "a.wav", "--precision", "bf16", env=env, expect=0)
    run("decode", "fp32.fcs", "b.wav", env=env, expect=0)
    a, _ = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.wav")
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert 10 * np.log10((b ** 2).sum() / ((a - b) ** 2).sum()) > 25


def test_stream_and_play_take_it(run: Run, voiced: Path, tmp_path: Path) -> None:
    env = {"FOCAL_MODEL": "focal-small"}
    out = run("stream", "-i", voiced, "-o", "-", "--precision", "int8", env=env, expect=0)
    exact = run("stream", "-i", voiced, "-o", "-", "--precision", "fp32", env=env, expect=0)
    toks, toks_fp32 = tokens_of(out.stdout), tokens_of(exact.stdout)
    assert len(toks) == len(toks_fp32) > 0
    assert not np.array_equal(toks, toks_fp32)  # the option reached the streaming encoder
    run("play", "-", "-o", "played.wav", "--precision", "fp32", input=out.stdout, env=env,
        expect=0)
    assert sf.info(tmp_path / "played.wav").frames > 0


def tokens_of(data: bytes) -> np.ndarray:
    return FcsReader(io.BytesIO(data)).read_all()[0][0]


def test_unknown_precision_is_a_usage_error(run: Run, voiced: Path) -> None:
    for cmd in (("encode", voiced, "x.fcs"), ("stream", "-i", voiced, "-o", "x.fcs")):
        proc = run(*cmd, "--precision", "fp16", expect=2)
        lines = error_lines(proc)
        assert len(lines) == 1 and "fp16" in lines[0] and "fp32, bf16, mixed, int8" in lines[0]
