"""Writer/reader round trips, chunking invariance, incremental reading from pipes and files."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fcs_testutil import TrickleStream, decode, encode, make_header, pattern_tokens

from focalcli.container import (
    DEFAULT_PACKET_TOKENS,
    Damage,
    FcsReader,
    FcsValueError,
    FcsWriter,
    Packet,
    summarize,
)


@pytest.mark.parametrize("packet_tokens", [1, 4, 7, DEFAULT_PACKET_TOKENS])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_round_trip(packet_tokens: int, channels: int) -> None:
    p = packet_tokens
    for n in sorted({0, 1, p - 1, p, p + 1, 3 * p + 2, 1000}):
        header = make_header(channels=channels, packet_tokens=p, bits_per_token=11)
        toks = pattern_tokens(channels, n, 11, seed=n)
        data = encode(header, toks, num_samples=n * 320)
        reader, out, damages = decode(data)
        np.testing.assert_array_equal(out, toks)
        assert damages == []
        assert reader.end_seen and reader.total_tokens == n
        assert reader.num_samples == n * 320
        assert reader.header == header
        assert reader.stats.packets_ok == n // p + 1
        assert reader.stats.bytes_read == len(data)


def test_packets_carry_positions_and_sequence() -> None:
    header = make_header(channels=2, packet_tokens=3)
    toks = pattern_tokens(2, 10, 12)
    items = list(FcsReader(io.BytesIO(encode(header, toks))).packets())
    assert all(isinstance(item, Packet) for item in items)
    assert [(p.seq, p.token_start, p.toks.shape) for p in items] == [  # type: ignore[union-attr]
        (0, 0, (2, 3)),
        (1, 3, (2, 3)),
        (2, 6, (2, 3)),
        (3, 9, (2, 1)),  # the end marker carries the last partial packet
    ]


def test_chunking_does_not_change_bytes() -> None:
    """Streaming (many small writes) and offline (one write) give identical .fcs bytes."""
    header = make_header(channels=2, packet_tokens=7)
    toks = pattern_tokens(2, 103, 12)
    offline = encode(header, toks, num_samples=1234)
    rng = np.random.default_rng(3)
    for _ in range(5):
        out = io.BytesIO()
        writer = FcsWriter(out, header, flush_each_packet=bool(rng.integers(2)))
        pos = 0
        while pos < toks.shape[1]:
            step = int(rng.integers(0, 12))
            writer.write(toks[:, pos : pos + step])
            pos += step
        writer.close(num_samples=1234)
        assert out.getvalue() == offline
        assert writer.bytes_written == len(offline)
        assert writer.packets_written == 103 // 7 + 1
        assert writer.tokens_written == 103


def test_mono_accepts_1d_tokens_and_any_int_dtype() -> None:
    header = make_header(packet_tokens=4)
    toks = pattern_tokens(1, 10, 12)
    out = io.BytesIO()
    with FcsWriter(out, header) as writer:
        writer.write(toks[0].astype(np.uint16))
    assert out.getvalue() == encode(header, toks)


@pytest.mark.parametrize(
    ("toks", "message"),
    [
        (np.zeros((2, 3), dtype=np.int64), r"shape \(1, n\)"),
        (np.zeros(3), "integer dtype"),
        (np.array([4096]), "token 4096 out of range 0..4095 for 12 bits per token"),
        (np.array([-1]), "token -1 out of range"),
    ],
)
def test_writer_rejects_bad_tokens(toks: np.ndarray, message: str) -> None:
    writer = FcsWriter(io.BytesIO(), make_header())
    with pytest.raises(FcsValueError, match=message):
        writer.write(toks)


def test_write_after_close_and_double_close() -> None:
    out = io.BytesIO()
    writer = FcsWriter(out, make_header())
    writer.close()
    size = len(out.getvalue())
    writer.close()
    assert len(out.getvalue()) == size
    with pytest.raises(FcsValueError, match="closed"):
        writer.write(np.array([1]))
    with pytest.raises(FcsValueError, match="number of samples"):
        FcsWriter(io.BytesIO(), make_header()).close(num_samples=-5)


def test_close_num_samples_overrides_header() -> None:
    header = make_header(num_samples=100, packet_tokens=4)
    reader, _, _ = decode(encode(header, pattern_tokens(1, 9, 12), num_samples=2880))
    assert reader.header.num_samples == 100 and reader.num_samples == 2880
    # unknown in both: None; known only in the header: the header's
    reader, _, _ = decode(encode(make_header(), pattern_tokens(1, 9, 12)))
    assert reader.num_samples is None
    reader, _, _ = decode(encode(header, pattern_tokens(1, 9, 12)))
    assert reader.num_samples == 100


def test_exception_in_context_leaves_stream_truncated() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), FcsWriter(out, make_header(packet_tokens=4)) as writer:
        writer.write(pattern_tokens(1, 10, 12))
        raise RuntimeError("encoder failed")
    reader, toks, damages = decode(out.getvalue())
    assert not reader.end_seen
    assert toks.shape == (1, 8)
    assert damages == [Damage(8, 0, "truncated")]


@pytest.mark.parametrize("step", [1, 2, 5])
def test_reads_from_trickling_stream(step: int) -> None:
    header = make_header(channels=2, packet_tokens=5, metadata={"k": "v"})
    toks = pattern_tokens(2, 23, 12)
    data = encode(header, toks, num_samples=99)
    reader = FcsReader(TrickleStream(data, step))  # type: ignore[arg-type]
    out, damages, num_samples = reader.read_all()
    np.testing.assert_array_equal(out, toks)
    assert damages == [] and num_samples == 99


def test_reader_pulls_only_what_each_packet_needs() -> None:
    header = make_header(packet_tokens=4)
    data = encode(header, pattern_tokens(1, 18, 12))
    stream = TrickleStream(data, step=1000)
    reader = FcsReader(stream)  # type: ignore[arg-type]
    assert stream.bytes_pulled == reader.header_bytes
    packet_size = reader.data_packet_bytes
    for k, item in enumerate(reader.packets()):
        assert isinstance(item, Packet)
        if k < 4:
            assert stream.bytes_pulled == reader.header_bytes + (k + 1) * packet_size
    assert stream.bytes_pulled == len(data)


def test_live_pipe_packet_by_packet() -> None:
    """Over a real pipe, each packet reaches the reader before the writer sends the next."""
    read_fd, write_fd = os.pipe()
    acked: list[bool] = []
    ack = threading.Event()
    chunks = pattern_tokens(1, 4 * 6, 12).reshape(1, 6, 4)

    def produce() -> None:
        with open(write_fd, "wb") as pipe:
            writer = FcsWriter(pipe, make_header(packet_tokens=4), flush_each_packet=True)
            for k in range(6):
                writer.write(chunks[:, k])
                acked.append(ack.wait(timeout=10))
                ack.clear()
            writer.close(num_samples=6 * 1280)

    thread = threading.Thread(target=produce)
    thread.start()
    received = []
    with open(read_fd, "rb") as pipe:
        for item in FcsReader(pipe).packets():
            assert isinstance(item, Packet)
            received.append(item.toks)
            ack.set()
    thread.join()
    assert acked == [True] * 6
    np.testing.assert_array_equal(np.concatenate(received, axis=1), chunks.reshape(1, -1))


def test_follow_a_file_being_written(tmp_path: Path) -> None:
    path = tmp_path / "growing.fcs"
    toks = pattern_tokens(1, 40, 12)
    path.write_bytes(b"")

    def produce() -> None:
        with open(path, "ab") as f:
            writer = FcsWriter(f, make_header(packet_tokens=4), flush_each_packet=True)
            for k in range(10):
                time.sleep(0.02)
                writer.write(toks[:, 4 * k : 4 * k + 4])
            writer.close()

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(0.01)
    with open(path, "rb") as f:
        reader = FcsReader(f, follow=2.0)
        out, damages, _ = reader.read_all()
    thread.join()
    assert reader.end_seen and damages == []
    np.testing.assert_array_equal(out, toks)


def test_flush_each_packet_flushes() -> None:
    class CountingStream(io.BytesIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    stream = CountingStream()
    writer = FcsWriter(stream, make_header(packet_tokens=4), flush_each_packet=True)
    assert stream.flushes == 1  # header
    writer.write(pattern_tokens(1, 12, 12))
    assert stream.flushes == 4  # one per packet
    writer.write(pattern_tokens(1, 2, 12))
    assert stream.flushes == 4  # partial packet stays buffered


def test_summary_figures() -> None:
    header = make_header(num_samples=480_000)  # 10 s at the 48 kHz source rate
    data = encode(header, pattern_tokens(1, 500, 12))
    summary = summarize(io.BytesIO(data))
    assert summary.intact and summary.tokens == 500 and summary.packets == 3
    assert summary.payload_bytes == 750
    assert summary.overhead_bytes == len(data) - 750
    assert summary.duration_s == 10.0
    assert summary.bitrate_bps == pytest.approx(8 * len(data) / 10)


def test_container_never_imports_torch() -> None:
    import subprocess
    import sys

    code = "import sys, focalcli.container; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
