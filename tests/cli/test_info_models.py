"""`focal info` (summary, --json, --field, --verify; no torch without --verify) and
`focal models`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_testutil import Run, error_lines


def test_info_summary_json_fields_and_verify(run: Run, tmp_path: Path,
                                             speech_files: list[Path]) -> None:
    run("encode", speech_files[0], "a.fcs", expect=0)
    run("encode", speech_files[1], "b.fcs", expect=0)
    text = run("info", "a.fcs", expect=0).stdout.decode()
    for word in ("model", "bitrate", "duration", "packets", "overhead", "integrity   ok"):
        assert word in text, text

    record = json.loads(run("info", "a.fcs", "--json", expect=0).stdout)
    assert record["file"] == "a.fcs" and record["integrity"] == "ok"
    assert record["damaged"] is False and record["verified"] is None
    assert record["bytes"] == (tmp_path / "a.fcs").stat().st_size
    records = json.loads(run("info", "a.fcs", "b.fcs", "--json", expect=0).stdout)
    assert [r["file"] for r in records] == ["a.fcs", "b.fcs"]

    lines = run("info", "a.fcs", "b.fcs", "-k", "model", "-k", "duration",
                expect=0).stdout.decode().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] == "tiny-test" for line in lines)
    proc = run("info", "a.fcs", "-k", "nonsense", expect=2)
    assert "unknown field 'nonsense'" in error_lines(proc)[0]

    verified = json.loads(run("info", "--verify", "a.fcs", "--json", expect=0).stdout)
    assert verified["verified"] is True
    assert "verified    yes" in run("info", "-t", "b.fcs", expect=0).stdout.decode()

    piped = run("info", "-", "-k", "bytes", input=(tmp_path / "a.fcs").read_bytes(), expect=0)
    assert int(piped.stdout) == record["bytes"]

    proc = run("info", "a.fcs", "missing.fcs", expect=1)
    assert error_lines(proc) == ["focal: error: missing.fcs: no such file"]
    assert proc.stdout.decode().startswith("a.fcs:")


def test_info_does_not_import_torch(run: Run, tmp_path: Path, speech_files: list[Path]) -> None:
    run("encode", speech_files[0], "a.fcs", expect=0)
    code = ("import sys; from focalcli.cli import run; status = run(['info', 'a.fcs']); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'focalcli.engine' not in sys.modules; sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_models_list_json_and_pull_offline(run: Run) -> None:
    table = run("models", expect=0).stdout.decode()
    assert table.splitlines()[0].split()[:3] == ["NAME", "KIND", "PRESENT"]
    assert "focalcodec_50hz_4k_causal" in table
    rows = json.loads(run("models", "--json", expect=0).stdout)
    row = next(r for r in rows if r["name"] == "focalcodec_50hz_4k_causal")
    assert row["latency_ms"] == 80 and row["sample_rate_output"] == 24000
    assert isinstance(row["present"], bool)
    proc = run("models", "pull", "no_such_model", expect=7)
    assert len(error_lines(proc)) == 1
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": os.devnull + "/nowhere"}
    proc = run("models", "pull", "focalcodec_50hz_4k_causal", env=env, expect=7)
    (line,) = error_lines(proc)
    assert "focalcodec_50hz_4k_causal" in line
