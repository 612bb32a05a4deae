"""Crafted headers, duplicated packets, junk and concatenated streams through `focal decode`,
`focal info` and `focal info --verify` (issue 18, defects 3 to 6)."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from pathlib import Path

import pytest
import soundfile as sf
from cli_testutil import Run, error_lines

from focalcli.container import FcsHeader, FcsReader
from focalcli.container.fcs import crc16, encode_header


@pytest.fixture
def coded(run: Run, tmp_path: Path) -> tuple[bytes, FcsHeader, int]:
    """A 2.5 s tone coded by the tiny model with 80 ms packets: (bytes, header, frames)."""
    import numpy as np

    t = np.arange(40000) / 16000
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32),
             16000, subtype="PCM_16")
    run("encode", "tone.wav", "good.fcs", "--packet-ms", "80", expect=0)
    data = (tmp_path / "good.fcs").read_bytes()
    return data, FcsReader(io.BytesIO(data)).header, 40000


def split(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    reader = FcsReader(io.BytesIO(data))
    n = reader.read_all()[0].shape[1] // reader.header.packet_tokens
    head, size = reader.header_bytes, reader.data_packet_bytes
    return (data[:head], [data[head + k * size : head + (k + 1) * size] for k in range(n)],
            data[head + n * size :])


def crafted(header: FcsHeader, **fields: object) -> bytes:
    """A header with other field values and a valid checksum, past FcsHeader's own checks."""
    return encode_header(dataclasses.replace(header, **fields))


def test_header_claiming_a_billion_samples_decodes_a_short_tail(
        run: Run, tmp_path: Path, coded: tuple[bytes, FcsHeader, int]) -> None:
    _, header, _ = coded
    for samples in (10**9, 2**63 - 1):
        (tmp_path / "huge.fcs").write_bytes(crafted(header, num_samples=samples))
        start = time.monotonic()
        proc = run("decode", "huge.fcs", "huge.wav", "--force", expect=4)
        assert time.monotonic() - start < 60  # a subprocess on a loaded machine; was endless
        assert "truncated at 0.00 s" in proc.stderr.decode()
        assert not error_lines(proc)
        # two 80 ms packets of concealment at most, not 17 hours
        assert sf.info(tmp_path / "huge.wav").frames <= 2 * 4 * 320
    (tmp_path / "huge.fcs").write_bytes(crafted(header, num_samples=2**40))
    proc = run("info", "--verify", "huge.fcs", "--json", expect=4)
    assert json.loads(proc.stdout)["duration"] <= 0.16
    run("play", "huge.fcs", "-o", "played.wav")
    assert sf.info(tmp_path / "played.wav").frames <= 2 * 4 * 320
    # an end marker that says 0 tokens, length unknown: the header's count is not believed
    marker = bytes.fromhex("fce5000000")
    marker += crc16(marker).to_bytes(2, "big")
    (tmp_path / "empty_end.fcs").write_bytes(crafted(header, num_samples=10**9) + marker)
    run("decode", "empty_end.fcs", "e.wav", expect=0)
    assert sf.info(tmp_path / "e.wav").frames <= 320


def test_header_fields_the_model_lacks_are_refused_with_exit_5(
        run: Run, tmp_path: Path, coded: tuple[bytes, FcsHeader, int]) -> None:
    data, header, _ = coded
    rest = data[FcsReader(io.BytesIO(data)).header_bytes :]
    cases = {
        "bits.fcs": (dict(bits_per_token=header.bits_per_token + 1), "bits per token"),
        "rate.fcs": (dict(token_rate=25.0), "token rate"),
        "rate_in.fcs": (dict(sample_rate_input=8000, token_rate=50.0), "input sample rate"),
        "rate_out.fcs": (dict(sample_rate_output=48000), "output sample rate"),
        "source.fcs": (dict(source_sample_rate=2**32 - 1), "source sample rate"),
    }
    for name, (fields, what) in cases.items():
        (tmp_path / name).write_bytes(crafted(header, **fields) + rest)
        for command in (("decode", name, "x.wav"), ("info", "--verify", name),
                        ("play", name, "-o", "x.wav")):
            proc = run(*command, expect=5)
            lines = error_lines(proc)
            assert len(lines) == 1 and what in lines[0] and name in lines[0], lines
        assert not (tmp_path / "x.wav").exists()
    # a token rate no codec can have is refused by `info` too, without a model
    good = bytearray(crafted(header))
    bad = bytes(good[:6]) + bytes.fromhex("808004") + bytes(good[7:-2])  # 65536 tokens/s
    (tmp_path / "fast.fcs").write_bytes(bad + crc16(bad).to_bytes(2, "big") + rest)
    proc = run("info", "fast.fcs", expect=5)
    (line,) = error_lines(proc)
    assert "exceeds the input sample rate" in line and "integrity ok" not in proc.stdout.decode()


def test_channel_counts_beyond_what_focal_codes_are_refused(
        run: Run, tmp_path: Path, coded: tuple[bytes, FcsHeader, int]) -> None:
    """255 channels used to take GBs; focal codes at most 16, and refuses more both ways."""
    import numpy as np

    _, header, _ = coded
    (tmp_path / "wide.fcs").write_bytes(crafted(header, channels=255, num_samples=10**9))
    proc = run("decode", "wide.fcs", "wide.wav", expect=5)
    (line,) = error_lines(proc)
    assert "header says 255 channels; focal decodes at most 16" in line
    (tmp_path / "sixteen.fcs").write_bytes(crafted(header, channels=16, num_samples=10**9))
    run("decode", "sixteen.fcs", "sixteen.wav", expect=4)
    info = sf.info(tmp_path / "sixteen.wav")
    assert info.channels == 16 and info.frames <= 2 * 4 * 320
    sf.write(tmp_path / "many.wav", np.zeros((1600, 17), np.float32), 16000)
    proc = run("encode", "many.wav", "many.fcs", "--multichannel", expect=3)
    (line,) = error_lines(proc)
    assert "has 17 channels; focal codes at most 16" in line
    assert not (tmp_path / "many.fcs").exists()


def test_a_duplicated_packet_is_dropped(run: Run, tmp_path: Path,
                                        coded: tuple[bytes, FcsHeader, int]) -> None:
    data, _, frames = coded
    head, packets, end = split(data)
    dup = head + b"".join(packets[:10]) + packets[9] + b"".join(packets[10:]) + end
    (tmp_path / "dup.fcs").write_bytes(dup)
    record = json.loads(run("info", "dup.fcs", "--json", expect=4).stdout)
    tokens = FcsReader(io.BytesIO(data)).read_all()[0].shape[1]
    assert record["lost_seconds"] == 0 and record["tokens"] == tokens
    assert "1 duplicate or out-of-order packet dropped" in record["integrity"]
    assert record["overhead_percent"] > 0
    proc = run("decode", "dup.fcs", "dup.wav", expect=4)
    assert "duplicate" in proc.stderr.decode()
    assert sf.info(tmp_path / "dup.wav").frames == frames
    run("decode", "dup.fcs", "strict.wav", "--strict", expect=5)


def test_junk_between_packets_is_damage(run: Run, tmp_path: Path,
                                        coded: tuple[bytes, FcsHeader, int]) -> None:
    data, _, frames = coded
    head, packets, end = split(data)
    junk = bytes(range(0x20, 0x70)) * 3  # 240 bytes, no sync pattern
    (tmp_path / "junk.fcs").write_bytes(head + b"".join(packets[:5]) + junk
                                        + b"".join(packets[5:]) + end)
    record = json.loads(run("info", "junk.fcs", "--json", expect=4).stdout)
    assert record["damaged"] and "240 bytes of junk skipped" in record["integrity"]
    assert record["lost_seconds"] == 0
    run("decode", "junk.fcs", "junk.wav", expect=4)
    assert sf.info(tmp_path / "junk.wav").frames == frames
    (tmp_path / "tail.fcs").write_bytes(data + b"not an fcs")
    record = json.loads(run("info", "tail.fcs", "--json", expect=4).stdout)
    assert "10 bytes of junk skipped" in record["integrity"]


def test_concatenated_streams_decode_one_after_the_other(
        run: Run, tmp_path: Path, coded: tuple[bytes, FcsHeader, int]) -> None:
    data, header, frames = coded
    both = data + data
    proc = run("decode", "-", "-F", "wav", input=both, expect=0)
    sig, _ = sf.read(io.BytesIO(proc.stdout))
    one, _ = sf.read(io.BytesIO(run("decode", "-", "-F", "wav", input=data, expect=0).stdout))
    assert len(sig) == 2 * frames and len(one) == frames
    assert abs(sig[:frames] - one).max() == 0 and abs(sig[frames:] - one).max() == 0
    (tmp_path / "both.fcs").write_bytes(both)
    record = json.loads(run("info", "both.fcs", "--json", expect=0).stdout)
    assert record["streams"] == 2 and record["duration"] == pytest.approx(2 * frames / 16000)
    assert "streams     2 chained" in run("info", "both.fcs", expect=0).stdout.decode()
    run("info", "--verify", "both.fcs", expect=0)
    proc = run("play", "both.fcs", "-o", "played.wav")
    assert "only the first was played" in proc.stderr.decode()
    # a second stream that cannot continue the output stops decoding with a warning
    stereo = crafted(header, channels=2, num_samples=0) + bytes.fromhex("fce5000001")
    stereo = stereo + crc16(stereo[-5:]).to_bytes(2, "big")
    proc = run("decode", "-", "-F", "wav", input=data + stereo, expect=4)
    assert "stream 2 has 2 channel(s)" in proc.stderr.decode()
    assert len(sf.read(io.BytesIO(proc.stdout))[0]) == frames
