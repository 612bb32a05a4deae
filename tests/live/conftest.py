"""Fixtures for the live-streaming tests: a tiny random model, test signals, a `focal` runner,
and the sound server for the device tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from live_testutil import Focal, speechlike

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from focalcli.model.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture(scope="session")
def tiny_codec(tiny_model: Path) -> object:
    from focalcli.engine import set_threads
    from focalcli.model import load_codec

    set_threads(1)  # more threads than free cores makes tiny models 100x slower
    return load_codec(str(tiny_model))


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    """2 s of a speech-like signal (voiced harmonics with syllable envelopes) at 16 kHz."""
    path = tmp_path / "speech.wav"
    sf.write(path, speechlike(16000, 2.0), 16000, subtype="PCM_16")
    return path


@pytest.fixture
def focal(tiny_model: Path, tmp_path: Path) -> Focal:
    return Focal(tiny_model, tmp_path)


def _server_up() -> bool:
    if shutil.which("pactl") is None:
        return False
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def sound_server() -> None:
    """A running sound server with a null sink as default output and its monitor as default
    input. Under CI (``CI`` set) it is started if needed and must work; elsewhere the device
    tests skip when no server runs."""
    if _server_up():
        return
    if not os.environ.get("CI"):
        pytest.skip("no sound server (run scripts/start-sound-server.sh; CI runs these tests)")
    script = ROOT / "scripts" / "start-sound-server.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and _server_up(), proc.stderr

