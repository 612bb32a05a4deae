"""Fixtures for driving the real `focal` in subprocesses: a tiny random model, real speech,
synthesized edge-case audio, and a runner that checks the one-line-error rule."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_testutil import Run

SPEECH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from focalcli.model.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same architecture with other weights (another hash)."""
    from focalcli.model.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("models"), seed=1, name="tiny-other")


@pytest.fixture(scope="session")
def speech_files() -> list[Path]:
    """The three shortest files of the dev split (about 2-3 s each)."""
    manifest = SPEECH_DIR / "manifest.tsv"
    if not manifest.is_file():
        pytest.skip(f"no speech data at {SPEECH_DIR}")
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["split"] == "dev"]
    rows.sort(key=lambda r: float(r["duration_s"]))
    return [SPEECH_DIR / r["path"] for r in rows[:3]]


@pytest.fixture
def run(tiny_model: Path, tmp_path: Path) -> Run:
    """run(*args, input=bytes, env={...}, expect=code) -> CompletedProcess (bytes).

    Runs `python -m focalcli` in tmp_path with FOCAL_MODEL set to the tiny model, checks the
    exit status when `expect` is given, and that stderr never holds a traceback.
    """

    def _run(*args: str | Path, input: bytes | None = None, env: dict[str, str] | None = None,
             expect: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, FOCAL_MODEL=str(tiny_model), HF_HUB_OFFLINE="1",
                        FOCAL_THREADS="1")
        full_env.pop("FOCAL_JOBS", None)
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "focalcli", *map(str, args)], input=input,
                              capture_output=True, env=full_env, cwd=cwd or tmp_path,
                              timeout=120, check=False)
        err = proc.stderr.decode(errors="replace")
        assert "Traceback" not in err, err
        if expect is not None:
            assert proc.returncode == expect, (proc.returncode, err)
        return proc

    return _run
