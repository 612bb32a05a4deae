"""`focal encode` / `focal decode` driven as users type them, on real speech and edge cases."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from cli_testutil import Run, error_lines, write_edge_cases


def test_speech_round_trip_as_users_type_it(run: Run, tmp_path: Path,
                                            speech_files: list[Path]) -> None:
    src = speech_files[0]
    info = sf.info(src)
    run("encode", src, "a.fcs", expect=0)
    assert (tmp_path / "a.fcs").stat().st_size > 20
    run("decode", "a.fcs", expect=0)  # OUT defaults to a.wav
    out, rate = sf.read(tmp_path / "a.wav", always_2d=True)
    assert rate == 16000  # the tiny model's output rate
    assert out.shape == (info.frames, 1)  # 16 kHz in, 16 kHz out: the original count
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    # OUT defaults to IN with .fcs, beside the input
    local = tmp_path / "speech.flac"
    local.write_bytes(src.read_bytes())
    run("encode", "speech.flac", expect=0)
    assert (tmp_path / "speech.fcs").read_bytes() == (tmp_path / "a.fcs").read_bytes()
    # nothing else appeared (no temporary files left behind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fcs", "a.wav", "speech.fcs",
                                                           "speech.flac"]


def test_edge_cases_in_one_batch(run: Run, tmp_path: Path) -> None:
    cases = write_edge_cases(tmp_path / "in" / "sub")
    (tmp_path / "in" / "text.wav").write_text("this is not audio\n")
    (tmp_path / "in" / "zero.wav").write_bytes(b"")
    proc = run("encode", "in", "-d", "out", "-j", "2", expect=1)
    errors = error_lines(proc)
    assert len(errors) == 2, errors
    assert any("in/text.wav: not a readable audio file" in e for e in errors)
    assert any("in/zero.wav: empty file" in e for e in errors)
    for name in cases:
        assert (tmp_path / "out" / "sub" / Path(name).with_suffix(".fcs")).is_file(), name
    assert not (tmp_path / "out" / "text.fcs").exists()

    # decode the mirrored tree at each file's own rate: exactly the original sample counts
    run("decode", "out", "-d", "dec", "--rate", "source", "-j", "2", expect=0)
    for name, (rate, frames, _channels) in cases.items():
        path = tmp_path / "dec" / "sub" / Path(name).with_suffix(".wav")
        sig, got_rate = sf.read(path, always_2d=True)
        assert (got_rate, sig.shape) == (rate, (frames, 1)), name  # downmixed to mono
        assert np.isfinite(sig).all()
    silence = sf.read(tmp_path / "dec" / "sub" / "silence.wav")[0]
    assert np.abs(silence).max() < 0.5


def test_output_formats_bits_and_rates(run: Run, tmp_path: Path,
                                       speech_files: list[Path]) -> None:
    run("encode", speech_files[1], "s.fcs", expect=0)
    frames = sf.info(speech_files[1]).frames
    run("decode", "s.fcs", "s.flac", "--bits", "24", "--rate", "48000", expect=0)
    info = sf.info(tmp_path / "s.flac")
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_24", 48000)
    assert info.frames == frames * 3
    run("decode", "s.fcs", "s32.wav", "-b", "32f", expect=0)
    assert sf.info(tmp_path / "s32.wav").subtype == "FLOAT"
    proc = run("decode", "s.fcs", "bad.flac", "-b", "32f", expect=2)
    assert "FLAC" in error_lines(proc)[0]
    proc = run("decode", "s.fcs", "x.mp4", expect=2)
    assert "output format" in error_lines(proc)[0]
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "bad.flac").exists()


def test_stdin_and_stdout(run: Run, tmp_path: Path, speech_files: list[Path]) -> None:
    src = speech_files[0]
    run("encode", src, "file.fcs", expect=0)
    wav = io.BytesIO()
    sig, rate = sf.read(src, dtype="int16")
    sf.write(wav, sig, rate, format="WAV", subtype="PCM_16")
    piped = run("encode", "-", input=wav.getvalue(), expect=0)  # '-' in: '-' out
    assert piped.stdout == (tmp_path / "file.fcs").read_bytes()
    assert piped.stderr == b""

    raw = run("decode", "-", input=piped.stdout, expect=0).stdout  # raw s16le by default
    assert len(raw) == 2 * len(sig)
    as_wav = run("decode", "file.fcs", "-", "--format", "wav", expect=0).stdout
    back, back_rate = sf.read(io.BytesIO(as_wav))
    assert back_rate == 16000 and len(back) == len(sig)

    # raw PCM in (stereo 8 kHz 16-bit), multichannel coding, raw out at the source rate
    stereo = (np.stack([sig[::2], sig[::2] // 2], axis=1)).astype("<i2")
    proc = run("encode", "--raw", "-r", "8000", "-b", "16", "-c", "2", "--multichannel", "-",
               "st.fcs", input=stereo.tobytes(), expect=0)
    assert proc.stdout == b""
    info = json.loads(run("info", "st.fcs", "--json", expect=0).stdout)
    assert (info["channels"], info["source_sample_rate"]) == (2, 8000)
    assert info["source_samples"] == len(stereo)  # known from the end marker of the stream
    out = run("decode", "st.fcs", "-", "-r", "source", expect=0).stdout
    assert len(out) == stereo.nbytes


def test_raw_stray_bytes_warn(run: Run) -> None:
    data = np.zeros(801, dtype="<i2").tobytes() + b"\x01"
    proc = run("encode", "--raw", "-r", "16000", "-", "r.fcs", input=data, expect=0)
    assert b"stray byte" in proc.stderr
    assert json.loads(run("info", "r.fcs", "--json").stdout)["num_samples"] == 801


def test_no_overwrite_without_force(run: Run, tmp_path: Path,
                                    speech_files: list[Path]) -> None:
    target = tmp_path / "x.fcs"
    target.write_bytes(b"precious")
    proc = run("encode", speech_files[0], "x.fcs", expect=6)
    assert error_lines(proc) == ["focal: error: x.fcs: already exists (use --force to overwrite)"]
    assert target.read_bytes() == b"precious"
    run("encode", speech_files[0], "x.fcs", "--force", expect=0)
    assert target.read_bytes()[:3] == b"FCS"
    proc = run("encode", "x.fcs", "x.fcs", "-f", expect=3)  # .fcs is not audio: input error
    assert "x.fcs" in error_lines(proc)[0]
    assert target.read_bytes()[:3] == b"FCS"


def test_packet_ms_sets_packet_size(run: Run, speech_files: list[Path]) -> None:
    run("encode", speech_files[0], "p.fcs", "--packet-ms", "80", expect=0)
    fields = run("info", "p.fcs", "-k", "packet_tokens", "-k", "packet_ms", expect=0).stdout
    assert fields.decode().split() == ["4", "80"]


def test_usage_errors_are_one_line(run: Run, speech_files: list[Path]) -> None:
    cases = [
        (("encode", "--raw", "-"), "--raw needs --rate"),
        (("encode", "--rate", "8000", speech_files[0]), "add --raw"),
        (("encode", "a.wav", "b.wav", "c.wav"), "need --output-dir"),
        (("encode", "--bogus", "a.wav"), "No such option: --bogus"),
        (("decode", "x.fcs", "--format", "mp3"), "unknown format"),
        (("decode", "x.fcs", "--rate", "fast"), "--rate"),
        (("encode", "--raw", "-r", "8000", "-b", "12", "-"), "unknown sample format"),
    ]
    for args, message in cases:
        proc = run(*args, expect=2)
        errors = error_lines(proc)
        assert len(errors) == 1 and message in errors[0], (args, proc.stderr)
        assert len(proc.stderr.decode().strip().splitlines()) == 1, proc.stderr


def test_input_and_model_errors(run: Run, tmp_path: Path, speech_files: list[Path]) -> None:
    proc = run("encode", "missing.wav", expect=3)
    assert error_lines(proc) == ["focal: error: missing.wav: no such file"]
    (tmp_path / "notes.wav").write_text("hello\n")
    proc = run("encode", "notes.wav", expect=3)
    assert error_lines(proc) == [
        "focal: error: notes.wav: not a readable audio file (Format not recognised)"]
    proc = run("encode", speech_files[0], "y.fcs", "--model", tmp_path / "nope", expect=7)
    assert len(error_lines(proc)) == 1 and "nope" in error_lines(proc)[0]
    assert not (tmp_path / "y.fcs").exists()
    proc = run("decode", "missing.fcs", expect=3)
    assert error_lines(proc) == ["focal: error: missing.fcs: no such file"]


def test_multichannel_file_keeps_its_channels(run: Run, tmp_path: Path) -> None:
    cases = write_edge_cases(tmp_path / "in")
    rate, frames, channels = cases["stereo.wav"]
    run("encode", "in/stereo.wav", "st.fcs", "--multichannel", expect=0)
    run("decode", "st.fcs", "st.wav", "--rate", "source", expect=0)
    sig, got_rate = sf.read(tmp_path / "st.wav", always_2d=True)
    assert (got_rate, sig.shape) == (rate, (frames, channels))
