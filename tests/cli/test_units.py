"""In-process units of the CLI layer: job planning, atomic outputs, exit-status rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from focalcli.cli.batch import plan_jobs
from focalcli.cli.outputs import atomic_file, atomic_path
from focalcli.cli.settings import make_settings
from focalcli.errors import (
    ExitCode,
    FocalError,
    InputProblem,
    OutputProblem,
    UsageProblem,
    batch_exit_code,
)

AUDIO = (".wav", ".flac")


def test_plan_single_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    assert [(j.src, j.dst) for j in plan_jobs(["a.wav"], None, out_ext=".fcs",
                                              folder_exts=AUDIO)] == [("a.wav", "a.fcs")]
    assert plan_jobs(["a.wav", "b.fcs"], None, out_ext=".fcs", folder_exts=AUDIO)[0].dst == \
        "b.fcs"
    assert plan_jobs(["-"], None, out_ext=".fcs", folder_exts=AUDIO)[0].dst == "-"
    assert plan_jobs(["x/a.wav", "dir"], None, out_ext=".fcs",
                     folder_exts=AUDIO)[0].dst == os.path.join("dir", "a.fcs")
    with pytest.raises(UsageProblem, match="need --output-dir"):
        plan_jobs(["a", "b", "c"], None, out_ext=".fcs", folder_exts=AUDIO)
    with pytest.raises(UsageProblem, match="is a directory"):
        plan_jobs(["dir"], None, out_ext=".fcs", folder_exts=AUDIO)


def test_plan_mirrors_folders_and_marks_problems(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in ("a.wav", "sub/b.FLAC", "sub/deep/c.wav", "sub/notes.txt", ".hidden/d.wav",
                "sub/.e.wav", "dup/a.flac"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    jobs = plan_jobs([str(root), str(root / "a.wav"), "-", str(tmp_path / "empty")], str(out),
                     out_ext=".fcs", folder_exts=AUDIO)
    got = {(Path(j.src).relative_to(tmp_path).as_posix() if j.src != "-" else "-",
            Path(j.dst).relative_to(out).as_posix() if j.dst else "",
            type(j.problem).__name__ if j.problem else None) for j in jobs}
    assert got == {
        ("in/a.wav", "a.fcs", None),
        ("in/dup/a.flac", "dup/a.fcs", None),
        ("in/sub/b.FLAC", "sub/b.fcs", None),
        ("in/sub/deep/c.wav", "sub/deep/c.fcs", None),
        ("in/a.wav", "a.fcs", "OutputProblem"),  # same output twice: the second is refused
        ("-", "", "UsageProblem"),
        ("empty", "", "FocalError"),
    }


def test_atomic_file_success_failure_and_no_clobber(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.bin"
    with atomic_file(target, force=False) as fh:
        fh.write(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert oct(target.stat().st_mode & 0o777) != "0o600"  # normal permissions, not mkstemp's
    with pytest.raises(OutputProblem, match="already exists"):
        with atomic_file(target, force=False) as fh:
            fh.write(b"x")
    with pytest.raises(RuntimeError):
        with atomic_file(target, force=True) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "k.bin", force=False) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "out.bin"]
    with atomic_file(target, force=True) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"


def test_failed_output_removes_the_folders_it_created(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "kept" / "new" / "deeper" / "out.bin", force=False) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"]
    # a folder that another output has filled meanwhile stays
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "shared" / "a.bin", force=False) as fh:
            (tmp_path / "shared" / "b.bin").write_bytes(b"other job")
            raise RuntimeError("boom")
    assert (tmp_path / "shared" / "b.bin").exists()


def test_atomic_file_refuses_its_input_and_folders(tmp_path: Path) -> None:
    from focalcli.cli.outputs import check_writable

    src = tmp_path / "a.wav"
    src.write_bytes(b"")
    with pytest.raises(OutputProblem, match="overwrite its own input"):
        check_writable(src, True, (src,))
    with pytest.raises(OutputProblem, match="is a directory"):
        check_writable(tmp_path, True)


def test_exit_codes_and_messages() -> None:
    assert batch_exit_code([0]) == 0 and batch_exit_code([3]) == 3
    assert batch_exit_code([0, 0]) == 0
    assert batch_exit_code([0, 4]) == ExitCode.CONCEALED
    assert batch_exit_code([4, 5, 0]) == ExitCode.FAILURE
    err = InputProblem("not a readable audio file")
    assert str(err.with_path("x.wav")) == "x.wav: not a readable audio file"
    assert str(err.with_path("other.wav")) == "x.wav: not a readable audio file"
    assert FocalError("m", exit_code=9).exit_code == 9
    assert len({int(c) for c in ExitCode}) == len(ExitCode)


def test_settings_merge_global_options() -> None:
    s = make_settings({"quiet": False, "verbose": 2}, verbose=1, jobs=0)
    assert (s.verbose, s.jobs, s.quiet) == (2, 1, False)
    s = make_settings({"quiet": True}, verbose=3)
    assert s.quiet and s.verbose == 0 and not s.progress
    with pytest.raises(AttributeError):
        s.quiet = False  # type: ignore[misc]
