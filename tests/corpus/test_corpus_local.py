"""Corpus runs without Ray: same bytes as the local batch, resumable, sharded, failures as
manifest rows, npy tokens and the token table, and the round trip back to `.fcs`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus_testutil import error_lines, focal, tree_bytes

from focalcli.cli import run
from focalcli.corpus.manifest import STATUS_ERROR, read_manifest


@pytest.fixture(autouse=True)
def _bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FOCAL_MODEL", "FOCAL_JOBS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOCAL_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _focal(capfd: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str]]:
    """Run focal in this process; (exit status, stderr lines)."""
    code = run([str(a) for a in args])
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    return code, err.splitlines()


def _rows(out: Path, name: str = "manifest.tsv") -> dict[str, object]:
    return {os.path.relpath(r.input, out.parent / "corpus"): r
            for r in read_manifest(out / name).values()}


def test_resumed_run_codes_only_what_is_missing(corpus: Path, local_fcs: dict[str, bytes],
                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = focal("encode", corpus, "-d", out, "--format", "fcs", "-j", "2", cwd=tmp_path,
                 expect=0)
    assert error_lines(proc) == []
    assert tree_bytes(out, ".fcs") == local_fcs  # the local batch's bytes, file for file
    rows = read_manifest(out / "manifest.tsv")
    assert len(rows) == 8 and all(r.ok for r in rows.values())
    assert all(r.tokens > 0 and r.duration_s > 1 and r.bytes == os.path.getsize(r.output)
               for r in rows.values())

    # A run killed at some point: one output never written, the manifest's last line cut
    # short, a temporary file left behind by the killed writer.
    victims = sorted(rows)
    Path(rows[victims[0]].output).unlink()
    text = (out / "manifest.tsv").read_text()
    cut = text.rstrip("\n").rfind("\n")
    (out / "manifest.tsv").write_text(text[: cut + 20])  # the last row loses its end
    stale = Path(rows[victims[-1]].output).parent / f".{Path(rows[victims[-1]].output).name}.k.part"
    stale.write_bytes(b"half a file")
    kept = {p: os.stat(rows[p].output).st_mtime_ns for p in victims[1:-1]}

    proc = focal("encode", corpus, "-d", out, "--format", "fcs", cwd=tmp_path, expect=0)
    assert "6 of 8 files done by an earlier run" in proc.stderr.decode()
    assert tree_bytes(out, ".fcs") == local_fcs
    assert {p: os.stat(rows[p].output).st_mtime_ns for p in kept} == kept  # not redone
    assert not stale.exists()
    again = read_manifest(out / "manifest.tsv")
    assert sorted(again) == sorted(rows) and all(r.ok for r in again.values())


def test_a_resume_with_other_settings_is_refused(corpus: Path, tmp_path: Path,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _focal(capfd, "encode", corpus, "-d", out, "--shard", "1/2")[0] == 0
    before = tree_bytes(out, ".fcs")
    # Outputs made in fp32 must not be mixed with bf16 ones under one manifest.
    code, err = _focal(capfd, "encode", corpus, "-d", out, "--shard", "1/2",
                       "--precision", "bf16")
    assert code == 2 and len(err) == 1 and "other settings" in err[0], err
    assert tree_bytes(out, ".fcs") == before
    code, err = _focal(capfd, "encode", corpus, "-d", out, "--shard", "1/2",
                       "--precision", "bf16", "--force")
    assert code == 0, err
    assert not any("done by an earlier run" in line for line in err)


def test_shards_split_the_corpus(corpus: Path, local_fcs: dict[str, bytes], tmp_path: Path,
                                 capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    for k in (1, 2, 3):
        assert _focal(capfd, "encode", corpus, "-d", out, "--shard", f"{k}/3")[0] == 0
    assert tree_bytes(out, ".fcs") == local_fcs
    shares = [read_manifest(out / f"manifest.shard-{k}-of-3.tsv") for k in (1, 2, 3)]
    assert [len(s) for s in shares] == [3, 3, 2]
    names = [name for share in shares for name in share]
    assert len(set(names)) == 8
    ordered = sorted(names)
    assert sorted(shares[1]) == ordered[1::3]  # share K: every 3rd file from the K-th


def test_a_failing_file_is_an_error_row_and_the_run_goes_on(
        corpus: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "corpus"
    shutil.copytree(corpus, src)
    (src / "spk0" / "notaudio.wav").write_text("this is text, not audio\n")
    out = tmp_path / "out"
    clash = out / "spk1" / "utt001.fcs"
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"the user's own file")  # never overwritten without --force

    code, err = _focal(capfd, "encode", src, "-d", out, "--format", "fcs")
    assert code == 1
    errors = [line for line in err if line.startswith("focal: error:")]
    assert len(errors) == 2
    assert any("notaudio.wav" in line for line in errors)
    assert any("utt001.fcs" in line and "--force" in line for line in errors)
    assert clash.read_bytes() == b"the user's own file"
    rows = read_manifest(out / "manifest.tsv")
    assert len(rows) == 9
    bad = {Path(r.input).name: r for r in rows.values() if r.status == STATUS_ERROR}
    assert sorted(bad) == ["notaudio.wav", "utt001.flac"]
    assert "notaudio.wav" in bad["notaudio.wav"].error

    # A rerun retries only the failed files; they fail again, as errors, not as a crash.
    code, err = _focal(capfd, "encode", src, "-d", out, "--format", "fcs")
    assert code == 1
    assert any("7 of 9 files done by an earlier run" in line for line in err)
    assert len([x for x in err if x.startswith("focal: error:")]) == 2
    code, err = _focal(capfd, "encode", src, "-d", out, "--format", "fcs", "--force")
    assert code == 1 and len([x for x in err if x.startswith("focal: error:")]) == 1
    assert read_manifest(out / "manifest.tsv")[str(src / "spk1" / "utt001.flac")].ok


def test_outputs_the_manifest_missed_are_kept_if_identical(
        corpus: Path, local_fcs: dict[str, bytes], tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    for rel, data in local_fcs.items():  # a run killed after its outputs, before the manifest
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    other = out / sorted(local_fcs)[2]
    other.write_bytes(local_fcs[sorted(local_fcs)[3]])  # a file that is not this input's
    stamps = {rel: os.stat(out / rel).st_mtime_ns for rel in local_fcs}
    code, err = _focal(capfd, "encode", corpus, "-d", out, "--format", "fcs")
    assert code == 1
    assert [line for line in err if line.startswith("focal: error:")] == [
        f"focal: error: {other}: already exists with other content (use --force to overwrite)"]
    assert {rel: os.stat(out / rel).st_mtime_ns for rel in local_fcs} == stamps
    rows = read_manifest(out / "manifest.tsv")
    assert sum(r.ok for r in rows.values()) == 7


def test_npy_tokens_table_and_round_trip(corpus: Path, local_fcs: dict[str, bytes],
                                         tmp_path: Path,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from focalcli.container import FcsReader
    from focalcli.corpus.tokens import read_model_json, read_toks_npy, toks_to_fcs_bytes

    out = tmp_path / "out"
    assert _focal(capfd, "encode", corpus, "-d", out, "--format", "npy", "-j", "2")[0] == 0
    identity = read_model_json(out)
    assert identity is not None and identity["name"] == "focal-small"
    table = pq.read_table(out / "tokens.parquet")
    assert table.num_rows == 8
    assert (table.schema.field("tokens").type.value_type.value_type
            == __import__("pyarrow").uint16())
    records = {r["output"]: r for r in table.to_pylist()}
    for rel, fcs_bytes in local_fcs.items():
        npy = rel[: -len(".fcs")] + ".npy"
        import io

        toks_fcs, damages, num_samples = FcsReader(io.BytesIO(fcs_bytes)).read_all()
        toks = read_toks_npy(out / npy)
        assert not damages
        np.testing.assert_array_equal(toks, toks_fcs)  # same tokens as the .fcs
        rec = records[npy]
        assert rec["num_tokens"] == toks.shape[1] and rec["channels"] == toks.shape[0]
        np.testing.assert_array_equal(np.asarray(rec["tokens"]), toks)
        assert rec["num_samples"] == num_samples and rec["model_hash"] == identity["weights_hash"]
        rebuilt = toks_to_fcs_bytes(toks, identity, source_rate=rec["source_rate"],
                                    num_samples=rec["num_samples"])
        assert rebuilt == fcs_bytes  # tokens -> the very .fcs focal encode writes


def test_rebuilt_fcs_decodes(corpus: Path, tmp_path: Path,
                             capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    import soundfile as sf

    from focalcli.corpus.tokens import read_model_json, read_toks_npy, toks_to_fcs_bytes

    src = sorted(corpus.rglob("utt000.*"))[0]
    out = tmp_path / "out"
    assert _focal(capfd, "encode", src, "-d", out, "--format", "npy")[0] == 0
    row = next(iter(read_manifest(out / "manifest.tsv").values()))
    identity = read_model_json(out)
    assert identity is not None
    rebuilt = tmp_path / "rebuilt.fcs"
    rebuilt.write_bytes(toks_to_fcs_bytes(read_toks_npy(row.output), identity,
                                          source_rate=row.source_rate,
                                          num_samples=row.num_samples))
    assert _focal(capfd, "decode", rebuilt, tmp_path / "back.wav")[0] == 0
    info = sf.info(tmp_path / "back.wav")
    assert (info.samplerate, info.frames) == (sf.info(src).samplerate, sf.info(src).frames)


@pytest.mark.parametrize(("args", "needle"), [
    (["--shard", "0/3"], "--shard"),
    (["--shard", "1/3", "--format", "wav"], "--format"),
    (["--ray", "corpus/"], "not a Ray address"),
    (["--format", "npy", "--packet-ms", "80"], "--packet-ms"),
])
def test_usage_errors(corpus: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                      args: list[str], needle: str) -> None:
    code, err = _focal(capfd, "encode", corpus, "-d", tmp_path / "out", *args)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("focal: error:") and needle in err[0]
    assert not (tmp_path / "out").exists()


def test_corpus_options_need_an_output_dir(corpus: Path, capfd: pytest.CaptureFixture[str]
                                           ) -> None:
    code, err = _focal(capfd, "encode", sorted(corpus.rglob("*.wav"))[0], "--shard", "1/2")
    assert code == 2 and len(err) == 1 and "--output-dir" in err[0]


def test_ray_missing_says_how_to_install(corpus: Path, tmp_path: Path) -> None:
    import subprocess

    code = ("import sys; sys.modules['ray'] = None\n"  # `import ray` fails as if not installed
            "from focalcli.cli import run\n"
            f"sys.exit(run(['encode', {str(corpus)!r}, '-d', {str(tmp_path / 'o')!r}, "
            "'--ray', 'local']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "focal: error: --ray needs Ray: pip install 'focalcli[ray]'"]


def test_precision_and_input_warnings_follow_the_local_batch(
        corpus: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    src = tmp_path / "corpus"
    src.mkdir()
    for path in sorted(corpus.rglob("*.wav"))[:2]:
        shutil.copy(path, src / path.name)
    sig, rate = sf.read(sorted(src.iterdir())[0], dtype="float32")
    sf.write(src / "loud.wav", np.clip(sig * 8, -1.5, 1.5), rate, subtype="FLOAT")
    code, local_err = _focal(capfd, "encode", src, "-d", tmp_path / "local", "--precision",
                             "bf16")
    assert code == 0
    code, corpus_err = _focal(capfd, "encode", src, "-d", tmp_path / "out", "--precision",
                              "bf16", "--format", "fcs")
    assert code == 0
    assert tree_bytes(tmp_path / "out", ".fcs") == tree_bytes(tmp_path / "local", ".fcs")
    warnings = sorted(line for line in corpus_err if "warning" in line)
    assert warnings and all("loud.wav" in line for line in warnings)
    assert warnings == sorted(line for line in local_err if "warning" in line)
