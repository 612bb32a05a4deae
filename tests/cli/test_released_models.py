"""Archives: every released bundled model keeps its weights under its name, and the files it
wrote keep decoding with later releases (issue 18).

`tests/container/golden/released/` holds, per released bundled model, a small .fcs it wrote
and the audio it decoded to at release. When a new bundled model is released it gets a new
name (its folder is never changed afterwards) and a line in RELEASED with its own golden files;
the old lines stay.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines

from focalcli.container import FcsReader
from focalcli.container.fcs import encode_header
from focalcli.model.loading import weights_file_hash
from focalcli.model.registry import BUNDLED_DIR, bundled_names

GOLDEN = Path(__file__).resolve().parents[1] / "container" / "golden" / "released"

# name -> (weights hash, token space, golden file stem); one line per release, never edited
RELEASED: dict[str, tuple[str, str, str]] = {
    "focal-small": ("101751340c810bdb", "d71ec875f10bf77f", "focal-small-v6"),
    # a ladder (format version 3): its golden file carries rungs 48, 12 and 24 bits per frame
    "focal-small-ladder": ("4b0f25d6226bb0c7", "807632c13465afbf", "focal-small-ladder-v1"),
    # the hybrid ladder on focal-small (base_model): its golden file carries rungs 48, 12, 24
    "focal-small-hybrid": ("40bbe11bdfd1f53a", "f768fc2359f3b496", "focal-small-hybrid-v1"),
    # its successor (1 voicing bit, 5 learned bits in group 1; larger feature blocks)
    "focal-small-hybrid-2": ("f01d8a1f86f9679c", "db07356b14e66563", "focal-small-hybrid-2-v1"),
    # focal-small-hybrid-2 fine-tuned on speed-perturbed copies of the training split
    "focal-small-hybrid-3": ("32d48d61605e0932", "cacfc6daecc65dda", "focal-small-hybrid-3-v1"),
}

NO_MODEL = {"FOCAL_MODEL": ""}  # the run fixture's tiny model would be an explicit choice


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = np.sum((ref - got) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref**2) / noise))


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_released_weights_never_change_under_their_name(name: str) -> None:
    weights, _, stem = RELEASED[name]
    assert weights_file_hash(BUNDLED_DIR / name / "model.safetensors") == weights
    header = FcsReader(io.BytesIO((GOLDEN / f"{stem}.fcs").read_bytes())).header
    assert (header.model_name, header.model_hash) == (name, weights)


def test_every_bundled_model_is_a_release_with_golden_files() -> None:
    assert set(bundled_names()) <= set(RELEASED), \
        "a new bundled model needs a RELEASED line"


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_golden_file_of_each_release_decodes_as_at_release(run: Run, tmp_path: Path,
                                                           name: str) -> None:
    """`focal decode` picks the model the header names (no --model, no FOCAL_MODEL)."""
    weights, space, stem = RELEASED[name]
    header = FcsReader(io.BytesIO((GOLDEN / f"{stem}.fcs").read_bytes())).header
    assert header.version == (3 if header.groups > 1 else 2) and header.token_space == space
    run("decode", GOLDEN / f"{stem}.fcs", "out.wav", env=NO_MODEL, expect=0)
    ref, rate = sf.read(GOLDEN / f"{stem}.wav")
    got, got_rate = sf.read(tmp_path / "out.wav")
    assert got_rate == rate and len(got) == len(ref) == header.num_samples
    assert snr_db(ref, got) > 40  # the same model; only float rounding may differ
    run("info", "--verify", GOLDEN / f"{stem}.fcs", env=NO_MODEL, expect=0)


def test_tokens_of_a_superseded_model_decode_by_their_token_space(run: Run,
                                                                  tmp_path: Path) -> None:
    """A file from a model that is not bundled (weights unknown here) but shares a bundled
    model's token space (a decoder-side retrain) decodes with that model."""
    weights, space, stem = RELEASED["focal-small"]
    data = (GOLDEN / f"{stem}.fcs").read_bytes()
    reader = FcsReader(io.BytesIO(data))
    rest = data[reader.header_bytes :]
    old = dataclasses.replace(reader.header, model_name="focal-small-old",
                              model_hash="0123456789abcdef")
    (tmp_path / "old.fcs").write_bytes(encode_header(old) + rest)
    run("decode", "old.fcs", "old.wav", env=NO_MODEL, expect=0)
    ref, _ = sf.read(GOLDEN / f"{stem}.wav")
    got, _ = sf.read(tmp_path / "old.wav")
    assert len(got) == len(ref) and snr_db(ref, got) > 40

    alien = dataclasses.replace(old, token_space="fedcba9876543210")
    (tmp_path / "alien.fcs").write_bytes(encode_header(alien) + rest)
    proc = run("decode", "alien.fcs", "alien.wav", env=NO_MODEL, expect=5)
    assert "was made with model focal-small-old" in error_lines(proc)[0]
    assert not (tmp_path / "alien.wav").exists()
