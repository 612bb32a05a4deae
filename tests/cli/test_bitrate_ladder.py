"""The bitrate ladder through the command line: `--bitrate` on encode and stream, schedules,
live steps by signal, compact live framing, and decode/play following what the stream carries.

Uses the bundled ladder model (focal-small-ladder: rungs of 12, 24 and 48 bits per frame).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_testutil import Run, error_lines

LADDER = "focal-small-ladder"


def info(run: Run, path: Path) -> dict:
    return json.loads(run("info", "--json", path, expect=0).stdout)


@pytest.fixture
def speech(speech_files: list[Path], tmp_path: Path) -> Path:
    """About 6 s of real speech: the dev files joined, at 16 kHz."""
    parts = [sf.read(p, dtype="float32")[0] for p in speech_files]
    path = tmp_path / "speech.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path


@pytest.mark.parametrize(("kbps", "bits"), [("0.6", 12), ("1.2", 24), ("2.4", 48)])
def test_each_rung_is_sent_and_measured(run: Run, speech: Path, tmp_path: Path, kbps: str,
                                        bits: int) -> None:
    out = tmp_path / f"{kbps}.fcs"
    proc = run("encode", "-m", LADDER, "--bitrate", kbps, speech, out, expect=0)
    assert b"nearest" not in proc.stderr  # exact rungs say nothing
    got = info(run, out)
    assert got["format_version"] == 3 and got["groups"] == 4 and got["rungs"] == [bits]
    assert got["payload_bitrate"] == pytest.approx(50 * bits, rel=1e-6)
    assert run("decode", "-m", LADDER, out, tmp_path / "out.wav", expect=0).returncode == 0
    assert sf.info(tmp_path / "out.wav").frames == sf.info(speech).frames


def test_a_rate_between_rungs_takes_the_nearest_and_says_so(run: Run, speech: Path,
                                                            tmp_path: Path) -> None:
    proc = run("encode", "-m", LADDER, "--bitrate", "1", speech, tmp_path / "a.fcs", expect=0)
    assert proc.stderr.decode().strip() == (
        "focal: --bitrate 1: model focal-small-ladder sends 1.20 kbit/s (the nearest rung)")
    assert info(run, tmp_path / "a.fcs")["rungs"] == [24]


def test_a_single_rate_model_says_its_one_rate(run: Run, speech: Path, tmp_path: Path) -> None:
    proc = run("encode", "-m", "focal-small", "--bitrate", "2.4", speech, tmp_path / "s.fcs",
               expect=0)
    assert "sends 0.60 kbit/s (its one rate)" in proc.stderr.decode()
    assert info(run, tmp_path / "s.fcs")["format_version"] == 2  # nothing new in the file


@pytest.mark.parametrize("bad", ["fast", "2.4,0.6", "2.4,5=1.2,3=0.6", "0", "-1", "1.2,x=3"])
def test_bad_bitrates_are_usage_errors(run: Run, speech: Path, bad: str) -> None:
    proc = run("encode", "-m", LADDER, "--bitrate", bad, speech, "x.fcs", expect=2)
    assert len(error_lines(proc)) == 1 and "--bitrate" in error_lines(proc)[0]


def test_corpus_runs_refuse_a_bitrate(run: Run, speech: Path, tmp_path: Path) -> None:
    proc = run("encode", "-m", LADDER, "--bitrate", "0.6", "--shard", "1/2", speech, "-d",
               tmp_path / "out", expect=2)
    assert "--bitrate does not go with --ray, --shard or --format" in error_lines(proc)[0]


def test_a_schedule_changes_rung_at_packet_boundaries(run: Run, speech: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "sched.fcs"
    run("encode", "-m", LADDER, "--bitrate", "2.4,2=0.6,4=1.2", "--packet-ms", "400", speech,
        out, expect=0)
    got = info(run, out)
    assert got["rungs"] == [12, 24, 48]
    sizes = {kbps: (tmp_path / f"c{kbps}.fcs") for kbps in ("0.6", "2.4")}
    for kbps, path in sizes.items():
        run("encode", "-m", LADDER, "--bitrate", kbps, "--packet-ms", "400", speech, path,
            expect=0)
    assert info(run, sizes["0.6"])["bytes"] < got["bytes"] < info(run, sizes["2.4"])["bytes"]


def test_a_rung_change_does_not_click(run: Run, speech: Path, tmp_path: Path) -> None:
    """Decoded across a change from 2.4 to 0.6 kbit/s at 2 s (80 ms packets): the samples
    around the boundary move no more than the speech itself does elsewhere, and the level
    does not jump."""
    out = tmp_path / "c.fcs"
    run("encode", "-m", LADDER, "--bitrate", "2.4,2=0.6", "--packet-ms", "80", speech, out,
        expect=0)
    run("decode", "-m", LADDER, out, tmp_path / "c.wav", expect=0)
    sig, rate = sf.read(tmp_path / "c.wav", dtype="float64")
    step = np.abs(np.diff(sig))
    b = 2 * rate
    near = step[b - rate // 200 : b + rate // 200].max()  # within 5 ms of the change
    assert near <= 2 * np.quantile(step, 0.999), (near, np.quantile(step, 0.999))
    win = rate // 100

    def level_db(a: np.ndarray) -> float:
        return 10 * np.log10(np.mean(a**2) + 1e-10)

    jumps = [abs(level_db(sig[t : t + win]) - level_db(sig[t - win : t]))
             for t in range(win, len(sig) - win, win)]
    at_change = abs(level_db(sig[b : b + win]) - level_db(sig[b - win : b]))
    assert at_change <= np.quantile(jumps, 0.95), (at_change, np.quantile(jumps, 0.95))


def test_stream_uses_compact_framing_within_a_quarter_of_the_payload(
        run: Run, speech: Path, tmp_path: Path) -> None:
    out = tmp_path / "live.fcs"
    run("stream", "-m", LADDER, "-i", speech, "-o", out, "--bitrate", "0.6", expect=0)
    got = info(run, out)
    assert got["framing"] == "compact" and got["rungs"] == [12] and got["integrity"] == "ok"
    packets = got["packets"] - 1  # less the end marker
    framing = got["bytes"] - got["header_bytes"] - packets * 6
    assert framing / (packets * 6) < 0.25  # the check bytes and the end marker
    run("play", "-m", LADDER, "--precision", "fp32", out, "--output", tmp_path / "p.wav",
        expect=0)
    run("decode", "-m", LADDER, out, tmp_path / "d.wav", expect=0)
    assert (tmp_path / "p.wav").read_bytes() == (tmp_path / "d.wav").read_bytes()


def test_stream_with_sync_framing_is_the_file_format(run: Run, speech: Path,
                                                     tmp_path: Path) -> None:
    run("stream", "-m", LADDER, "-i", speech, "-o", tmp_path / "s.fcs", "--framing", "sync",
        "--bitrate", "1.2", "--precision", "fp32", expect=0)
    run("encode", "-m", LADDER, "--packet-ms", "80", "--bitrate", "1.2", speech,
        tmp_path / "e.fcs", expect=0)
    assert (tmp_path / "s.fcs").read_bytes() == (tmp_path / "e.fcs").read_bytes()


def test_a_live_sender_steps_down_without_restarting(speech: Path, tmp_path: Path,
                                                     run: Run) -> None:
    """SIGUSR1 during `focal stream --realtime`: the rest of the stream is one rung lower."""
    proc = subprocess.Popen([sys.executable, "-m", "focalcli", "stream", "-m", LADDER,
                             "--realtime", "-i", str(speech)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**_env(), "FOCAL_THREADS": "1"},
                            bufsize=0)  # unbuffered: communicate() gets every byte not read
    assert proc.stdout is not None
    head = b""
    while len(head) < 400:  # packets flow: the model is loaded and the handlers are in
        chunk = proc.stdout.read(400 - len(head))
        assert chunk, "the stream ended early"
        head += chunk
    proc.send_signal(signal.SIGUSR1)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"bitrate now 1.20 kbit/s (24 bits per frame)" in err
    out = tmp_path / "steps.fcs"
    out.write_bytes(head + rest)
    got = info(run, out)
    assert got["rungs"] == [24, 48] and got["integrity"] == "ok"


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("FOCAL_MODEL", None)
    return env
