"""Shards (disjoint, covering, deterministic), the manifest file, and stale temporaries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from focalcli.corpus.manifest import (
    COLUMNS,
    STATUS_ERROR,
    STATUS_OK,
    ManifestRow,
    ManifestWriter,
    read_manifest,
)
from focalcli.corpus.plan import Shard, parse_shard, remove_stale_parts, shard_jobs
from focalcli.corpus.runner import split_done
from focalcli.errors import UsageProblem
from focalcli.pipeline.jobs import Job


def _jobs(n: int) -> list[Job]:
    return [Job(f"in/d{i % 7}/f{i:04d}.wav", f"out/d{i % 7}/f{i:04d}.fcs") for i in range(n)]


@pytest.mark.parametrize(("text", "shard"), [("1/1", Shard(1, 1)), ("3/4", Shard(3, 4)),
                                             (" 2 / 2 ", Shard(2, 2))])
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "1", "a/b", "-1/3", "1/2/3", ""])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(UsageProblem, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 10])
def test_shards_are_disjoint_covering_and_deterministic(count: int) -> None:
    jobs = _jobs(53)
    shares = [shard_jobs(jobs, Shard(k, count)) for k in range(1, count + 1)]
    seen = [job.src for share in shares for job in share]
    assert sorted(seen) == sorted(job.src for job in jobs)  # covering, no file twice
    assert len(set(seen)) == len(seen)
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1  # every N-th file: balanced
    shuffled = list(jobs)
    random.Random(1).shuffle(shuffled)  # another machine listing the corpus in another order
    assert [shard_jobs(shuffled, Shard(k, count)) for k in range(1, count + 1)] == shares


def test_shard_takes_every_nth_of_the_sorted_list() -> None:
    jobs = _jobs(10)
    ordered = sorted(jobs, key=lambda j: j.src)
    assert shard_jobs(jobs, Shard(2, 3)) == [ordered[1], ordered[4], ordered[7]]
    assert Shard(2, 3).suffix == ".shard-2-of-3" and Shard().suffix == ""


def _row(i: int, **kw: object) -> ManifestRow:
    base: dict = {"input": f"in/f{i}.wav", "output": f"out/f{i}.fcs", "status": STATUS_OK,
                  "duration_s": 1.5, "tokens": 75, "channels": 1, "bytes": 100 + i,
                  "seconds": 0.25, "worker": "host:12", "model": "m@ab", "source_rate": 16000,
                  "num_samples": 24000}
    base.update(kw)
    return ManifestRow(**base)


def test_manifest_round_trip_and_odd_characters(tmp_path: Path) -> None:
    path = tmp_path / "manifest.tsv"
    odd = _row(2, input="in/tab\there.wav", status=STATUS_ERROR,
               error='in/x.wav: line one\nline "two"\ttabbed')
    writer = ManifestWriter(path, [_row(0)])
    writer.append(_row(1))
    writer.append(odd)
    assert read_manifest(path) == {r.input: r for r in (_row(0), _row(1), odd)}
    rows = writer.finish()
    assert [r.input for r in rows] == sorted(r.input for r in (_row(0), _row(1), odd))
    assert path.read_text().splitlines()[0].split("\t") == list(COLUMNS)
    assert read_manifest(path)[odd.input] == odd


def test_manifest_ignores_a_cut_last_line_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "manifest.tsv"
    writer = ManifestWriter(path, [])
    writer.append(_row(0))
    writer.append(_row(1))
    writer.close()
    text = path.read_text()
    path.write_text(text[:-9])  # a driver killed in the middle of writing row 1
    assert list(read_manifest(path)) == ["in/f0.wav"]
    path.write_text("not\ta\tmanifest\n" + text)
    assert read_manifest(path) == {}
    path.write_text(text.replace("\tok\t", "\tmaybe\t", 1))
    assert list(read_manifest(path)) == ["in/f1.wav"]
    assert read_manifest(tmp_path / "missing.tsv") == {}


def test_split_done_trusts_only_ok_rows_whose_output_is_there(tmp_path: Path) -> None:
    jobs = [Job(f"in/f{i}.wav", str(tmp_path / f"f{i}.fcs")) for i in range(5)]
    for i in (0, 1, 2):
        Path(jobs[i].dst).write_bytes(b"x" * (100 + i))
    Path(jobs[3].dst).write_bytes(b"short")
    previous = {
        jobs[0].src: _row(0, output=jobs[0].dst),  # done
        jobs[1].src: _row(1, output=jobs[1].dst, status=STATUS_ERROR),  # failed: again
        jobs[3].src: _row(3, output=jobs[3].dst),  # size differs: again
        jobs[4].src: _row(4, output=jobs[4].dst),  # output gone: again
    }  # jobs[2]: output there but not recorded: again (the worker compares the bytes)
    done, todo = split_done(jobs, previous)
    assert [r.input for r in done] == [jobs[0].src]
    assert [j.src for j in todo] == [j.src for j in jobs[1:]]


def test_remove_stale_parts(tmp_path: Path) -> None:
    dst = tmp_path / "a.fcs"
    (tmp_path / ".a.fcs.x1y2.part").write_bytes(b"partial")
    (tmp_path / ".b.fcs.x1y2.part").write_bytes(b"another file's")
    (tmp_path / "a.fcs.part").write_bytes(b"not ours")
    assert remove_stale_parts(str(dst)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.fcs.x1y2.part", "a.fcs.part"]


@pytest.mark.parametrize(("args", "expected"), [
    (["encode", "c", "-d", "o", "--ray"], ["encode", "c", "-d", "o", "--ray", "local"]),
    (["encode", "c", "--ray", "-d", "o"], ["encode", "c", "--ray", "local", "-d", "o"]),
    (["encode", "c", "--ray", "auto", "-d", "o"], ["encode", "c", "--ray", "auto", "-d", "o"]),
    (["encode", "--ray=ray://h:1", "c"], ["encode", "--ray=ray://h:1", "c"]),
    (["decode", "x.fcs", "--ray"], ["decode", "x.fcs", "--ray"]),  # not encode: left to click
])
def test_ray_without_an_address_is_a_local_cluster(args: list[str], expected: list[str]) -> None:
    from focalcli.cli import ray_without_address

    assert ray_without_address(args) == expected


def test_ray_last_on_the_command_line_is_accepted(tmp_path: Path) -> None:
    """`--ray` with no address gets as far as the next check (here a bad --format)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "focalcli", "encode", str(tmp_path), "-d",
                           str(tmp_path / "o"), "--format", "wav", "--ray"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--format" in proc.stderr and "requires" not in proc.stderr
