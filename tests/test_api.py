"""The public API: the README's example runs as written, and it agrees with the commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the README's Python API section has one python example"
    return blocks[0]


def test_readme_example_runs() -> None:
    """The example is executed exactly as the README shows it (its asserts are the checks)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", FOCAL_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("FOCAL_MODEL", None)
    proc = subprocess.run([sys.executable, "-c", readme_example()], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_api_bytes_equal_focal_encode(tmp_path: Path) -> None:
    """encode_to_fcs gives the bytes `focal encode` writes; decode_fcs the samples of
    `focal decode` (32-bit float output)."""
    import focalcli

    rate = 22050  # not the model's rate: the resampling is the pipeline's too
    t = np.arange(int(1.3 * rate)) / rate
    audio = (0.2 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    sf.write(tmp_path / "in.wav", audio, rate, subtype="FLOAT")
    env = dict(os.environ, HF_HUB_OFFLINE="1", FOCAL_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("FOCAL_MODEL", None)
    focal = [sys.executable, "-m", "focalcli"]
    subprocess.run([*focal, "-q", "encode", str(tmp_path / "in.wav"), str(tmp_path / "a.fcs")],
                   env=env, check=True, timeout=600)
    subprocess.run([*focal, "-q", "decode", "--bits", "32f", "--rate", "source",
                    str(tmp_path / "a.fcs"), str(tmp_path / "a.wav")],
                   env=env, check=True, timeout=600)
    model = focalcli.load_model("focal-small")
    data = focalcli.encode_to_fcs(model, audio[None, :], rate)
    assert data == (tmp_path / "a.fcs").read_bytes()
    speech, out_rate = focalcli.decode_fcs(data, model, sample_rate=rate)
    cli_audio, cli_rate = sf.read(tmp_path / "a.wav", dtype="float32", always_2d=True)
    assert out_rate == cli_rate == rate
    assert speech.shape == (1, audio.size)
    np.testing.assert_array_equal(speech, cli_audio.T)
    toks, info = focalcli.from_fcs(tmp_path / "a.fcs")
    assert (toks == focalcli.encode(model, audio, rate)).all()
    assert info["model"] == model.name and info["source_sample_rate"] == rate


def test_api_import_is_light() -> None:
    """`import focalcli` (and the lazy API names' module) pulls in no torch."""
    code = ("import sys, focalcli, focalcli.api; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(focalcli.LOST_TOKEN)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "-1"
