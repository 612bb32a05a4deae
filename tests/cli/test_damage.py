"""Damaged and foreign .fcs: concealment (exit 4), --strict and invalid files (exit 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines


@pytest.fixture
def coded(run: Run, tmp_path: Path, speech_files: list[Path]) -> tuple[Path, dict, int]:
    """A .fcs of real speech with 200 ms packets, its info, and the source length."""
    run("encode", speech_files[2], "good.fcs", "--packet-ms", "200", expect=0)
    info = json.loads(run("info", "good.fcs", "--json", expect=0).stdout)
    assert info["integrity"] == "ok" and info["packets"] > 10
    return tmp_path / "good.fcs", info, sf.info(speech_files[2]).frames


def test_truncated_and_corrupted_files_decode_with_concealment(
        run: Run, tmp_path: Path, coded: tuple[Path, dict, int]) -> None:
    good, info, frames = coded
    data = good.read_bytes()
    start, size = info["header_bytes"], len(data)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    offsets = np.linspace(start, size - 1, 12).astype(int)
    for i, off in enumerate(offsets):
        (damaged / f"trunc_{i:02d}_{off}.fcs").write_bytes(data[:off])
        flipped = bytearray(data)
        flipped[off] ^= 0x5A
        (damaged / f"corrupt_{i:02d}_{off}.fcs").write_bytes(bytes(flipped))
    names = sorted(p.name for p in damaged.iterdir())

    proc = run("decode", "damaged", "-d", "out", "-j", "2", expect=4)
    warnings = [line for line in proc.stderr.decode().splitlines() if "warning" in line]
    assert len(warnings) == len(names), proc.stderr
    assert not error_lines(proc)
    records = json.loads(run("info", *sorted(damaged.iterdir()), "--json", expect=4).stdout)
    tail = 2 * info["packet_tokens"] * 320  # a cut-off end is concealed for two packets at most
    for name, record in zip(names, records, strict=True):
        sig, rate = sf.read(tmp_path / "out" / name.replace(".fcs", ".wav"))
        assert rate == 16000 and np.isfinite(sig).all()
        if name.startswith("corrupt"):
            assert len(sig) == frames, name  # full length, missing part concealed
        else:  # what the packets present hold plus that tail, never beyond the original
            assert len(sig) == record["source_samples"], name
            assert len(sig) == min(frames, record["tokens"] * 320 + tail), name
            assert f"of {frames / 16000:.2f} s" in record["integrity"], name

    proc = run("info", *sorted(damaged.iterdir()), "-k", "damaged", expect=4)
    assert proc.stdout.decode().split() == ["yes"] * len(names)

    one = damaged / names[0]
    proc = run("decode", one, "strict.wav", "--strict", expect=5)
    assert "damaged" in error_lines(proc)[0] and "--strict" in error_lines(proc)[0]
    assert not (tmp_path / "strict.wav").exists()
    proc = run("decode", one, "single.wav", expect=4)
    assert "missing audio was concealed" in proc.stderr.decode()


def test_damaged_header_is_invalid(run: Run, tmp_path: Path,
                                   coded: tuple[Path, dict, int]) -> None:
    good, info, _ = coded
    data = good.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    for off in range(0, info["header_bytes"], 3):
        (bad / f"cut_{off:03d}.fcs").write_bytes(data[:off])
        flipped = bytearray(data)
        flipped[off] ^= 0xFF
        (bad / f"flip_{off:03d}.fcs").write_bytes(bytes(flipped))
    count = len(list(bad.iterdir()))
    proc = run("decode", "bad", "-d", "out", expect=1)
    errors = error_lines(proc)
    assert len(errors) == count, proc.stderr
    assert all(".fcs" in e for e in errors)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    proc = run("decode", bad / "flip_003.fcs", "x.wav", expect=5)
    assert len(error_lines(proc)) == 1


def test_unknown_version_other_model_and_not_fcs(run: Run, tmp_path: Path,
                                                 coded: tuple[Path, dict, int],
                                                 other_model: Path) -> None:
    good, info, _ = coded
    data = bytearray(good.read_bytes())
    data[3] = 99
    (tmp_path / "v99.fcs").write_bytes(bytes(data))
    for command in (("decode", "v99.fcs"), ("info", "v99.fcs")):
        proc = run(*command, expect=5)
        assert error_lines(proc) == [
            "focal: error: v99.fcs: unsupported .fcs version 99 (this focal reads 1, 2 and 3)"]

    proc = run("decode", "good.fcs", "o.wav", "--model", other_model, expect=5)
    (line,) = error_lines(proc)
    assert f"was made with model {info['model']} (weights {info['model_hash']})" in line
    assert "use --model" in line
    assert not (tmp_path / "o.wav").exists()
    proc = run("info", "--verify", "good.fcs", env={"FOCAL_MODEL": str(other_model)}, expect=5)
    assert "was made with model" in error_lines(proc)[0]

    (tmp_path / "text.fcs").write_text("just text\n")
    proc = run("decode", "text.fcs", expect=5)
    assert error_lines(proc) == [
        "focal: error: text.fcs: not an .fcs file (starts with b'jus', not b'FCS')"]
