"""End-to-end latency of `focal stream | focal play`, broken down, and the coders' speed.

A sample's journey: it is written to `focal stream -i -` (a WAV stream on stdin, fed in real
time 10 ms at a time), waits for its 80 ms chunk to fill (algorithmic), is encoded (compute),
crosses the pipe as a packet, waits in `focal play`'s jitter buffer (buffering), is decoded
(compute) and leaves `focal play -o -` on stdout, where this script stamps it. Every output
sample is matched to its input sample (same position; the codec keeps time alignment), so the
end-to-end figure is measured, not summed. The parts come from the commands' own -v reports:
encoder ms/chunk, decoder ms/group, mean hold in the jitter buffer; "pipe and I/O" is what
remains (pipes, stdin parsing, resampling, output writes, scheduling).

It also times the streaming encoder and decoder in-process on one thread (median and p95 per
80 ms chunk, real-time factor).

    python bench/bench_latency.py                           # the bundled model
    python bench/bench_latency.py --model PATH              # a model folder or name
    python bench/bench_latency.py --config focalcli/train/configs/focal-small.json
                                                            # its architecture, random weights
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared" / "data" / "speech"
BLOCK_S = 0.01


def speech_signal(path: Path | None, seconds: float) -> np.ndarray:
    """Mono float32 at 16 kHz: the given file, or dev-split speech files, cut to `seconds`."""
    import soundfile as sf
    import soxr

    files = [path] if path else []
    if not files and (SPEECH / "manifest.tsv").is_file():
        rows = [line.split("\t") for line in (SPEECH / "manifest.tsv").read_text().splitlines()]
        files = [SPEECH / r[0] for r in rows[1:] if len(r) > 1 and r[1] == "dev"][:20]
    parts, total = [], 0
    for f in files:
        sig, rate = sf.read(f, dtype="float32", always_2d=True)
        mono = soxr.resample(sig.mean(axis=1), rate, 16000).astype(np.float32)
        parts.append(mono)
        total += len(mono)
        if total >= seconds * 16000:
            break
    if not parts:  # no data: a synthetic vowel-like signal
        t = np.arange(int(seconds * 16000)) / 16000
        parts = [(0.2 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0))
                 .astype(np.float32)]
    return np.concatenate(parts)[: int(seconds * 16000)]


def random_model(config_path: Path, folder: Path) -> Path:
    """A model folder with `config_path`'s architecture and random weights."""
    from focalcli.model.testing import save_tiny_model

    config = json.loads(config_path.read_text())
    config = config.get("model", config)
    return save_tiny_model(folder, seed=0, name=config_path.stem, config=config)


def time_sessions(codec: Any, sig: np.ndarray, chunks: int) -> dict[str, float]:
    """Median and p95 ms per chunk of the streaming encoder and decoder, one thread."""
    from focalcli.engine import DecoderSession, EncoderSession

    size = codec.chunk_size
    enc_ms, dec_ms = [], []
    with EncoderSession(codec) as enc, DecoderSession(codec) as dec:
        for i in range(chunks + 2):
            piece = sig[None, (i * size) % (len(sig) - size):][:, :size]
            t0 = time.perf_counter()
            toks = enc.push(np.ascontiguousarray(piece))
            t1 = time.perf_counter()
            dec.push(toks)
            t2 = time.perf_counter()
            if i >= 2:  # the first calls warm up
                enc_ms.append(1000 * (t1 - t0))
                dec_ms.append(1000 * (t2 - t1))
    chunk_ms = 1000 * size / codec.sample_rate_input

    def p95(x: list[float]) -> float:
        return float(np.percentile(x, 95))

    return {"chunk_ms": chunk_ms,
            "encode_ms_median": statistics.median(enc_ms), "encode_ms_p95": p95(enc_ms),
            "decode_ms_median": statistics.median(dec_ms), "decode_ms_p95": p95(dec_ms),
            "encode_rtf": statistics.median(enc_ms) / chunk_ms,
            "decode_rtf": statistics.median(dec_ms) / chunk_ms}


def wav_stream_header(rate: int) -> bytes:
    """A 16-bit mono WAV header with an open-ended data chunk (for a pipe)."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))


def end_to_end(model: str, sig: np.ndarray, lead_in_s: float, packet_ms: float,
               buffer_ms: float | None, out_rate: int) -> dict[str, Any]:
    """Run the live pipeline on `sig` (16 kHz) after `lead_in_s` of silence; measure."""
    env = dict(os.environ, FOCAL_MODEL=model, FOCAL_THREADS="1", HF_HUB_OFFLINE="1")
    focal = [sys.executable, "-m", "focalcli"]
    stream = subprocess.Popen([*focal, "stream", "-i", "-", "-v", "--packet-ms", str(packet_ms)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    play_args = [*focal, "play", "-", "-o", "-", "-v"]
    if buffer_ms is not None:
        play_args += ["--buffer-ms", str(buffer_ms)]
    play = subprocess.Popen(play_args, stdin=stream.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert stream.stdout is not None and stream.stdin is not None and play.stdout is not None
    stream.stdout.close()
    errs: dict[str, bytes] = {}
    ready = {"stream": threading.Event(), "play": threading.Event()}

    def drain(name: str, pipe: Any) -> None:
        lines = []
        for line in pipe:
            lines.append(line)
            if re.match(rb"focal: (streaming|playing) ", line):
                ready[name].set()
        errs[name] = b"".join(lines)
        ready[name].set()

    stamps: list[tuple[float, int]] = []  # (time, output bytes so far)

    def read_out() -> None:
        fd = play.stdout.fileno()  # type: ignore[union-attr]
        total = 0
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                return
            total += len(data)
            stamps.append((time.perf_counter(), total))

    threads = [threading.Thread(target=drain, args=("stream", stream.stderr), daemon=True),
               threading.Thread(target=drain, args=("play", play.stderr), daemon=True),
               threading.Thread(target=read_out, daemon=True)]
    for t in threads:
        t.start()
    full = np.concatenate([np.zeros(int(lead_in_s * 16000), np.float32), sig])
    pcm = (np.clip(full, -1, 1 - 1 / 32768) * 32768).astype("<i2")
    block = int(BLOCK_S * 16000)
    stream.stdin.write(wav_stream_header(16000))
    stream.stdin.flush()
    for event in ready.values():  # both have loaded their model and warmed it up
        event.wait(timeout=300)
    written_at = np.zeros(len(pcm))
    start = time.perf_counter()
    for k in range(0, len(pcm), block):
        wait = start + (k + block) / 16000 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        stream.stdin.write(pcm[k : k + block].tobytes())
        stream.stdin.flush()
        written_at[k : k + block] = time.perf_counter()
    stream.stdin.close()
    play.wait(timeout=120)
    stream.wait(timeout=30)
    for t in threads:
        t.join(timeout=10)
    # output sample j (at out_rate) <-> input sample j * 16000 / out_rate
    times = np.array([t for t, _ in stamps])
    ends = np.array([n // 2 for _, n in stamps])
    out_idx = np.arange(int(ends[-1]))
    left_at = times[np.searchsorted(ends, out_idx, side="right")]
    in_idx = (out_idx * 16000 // out_rate).astype(int)
    keep = (in_idx >= int(lead_in_s * 16000) + 16000) & (in_idx < len(pcm) - 3200)
    lat = 1000 * (left_at[keep] - written_at[in_idx[keep]])
    chunk = 1280
    chunk_end = np.minimum((in_idx[keep] // chunk + 1) * chunk - 1, len(pcm) - 1)
    algorithmic = 1000 * (written_at[chunk_end] - written_at[in_idx[keep]])
    first = in_idx[keep] % chunk == 0
    stream_err, play_err = errs.get("stream", b"").decode(), errs.get("play", b"").decode()

    def grab(pattern: str, text: str) -> float:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else float("nan")

    enc = grab(r"encode ([\d.]+) ms/chunk", stream_err)
    dec = grab(r"decode ([\d.]+) ms/group", play_err)
    held = grab(r"held ([\d.]+) ms", play_err)
    mean = float(lat.mean())
    return {
        "end_to_end_ms_mean": mean,
        "end_to_end_ms_p50": float(np.median(lat)),
        "end_to_end_ms_p95": float(np.percentile(lat, 95)),
        "end_to_end_ms_chunk_first_sample": float(lat[first].mean()),
        "end_to_end_ms_max": float(lat.max()),
        "algorithmic_ms_mean": float(algorithmic.mean()),
        "algorithmic_ms_chunk_first_sample": float(algorithmic[first].mean()),
        "encode_ms": enc, "decode_ms": dec, "buffer_hold_ms": held,
        "pipe_and_io_ms": mean - float(algorithmic.mean()) - enc - dec - held,
        "play_report": play_err.strip().splitlines()[-1:],
        "stream_report": stream_err.strip().splitlines()[-1:],
        "exit": [stream.returncode, play.returncode],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model name or folder (default: FOCAL_MODEL or bundled)")
    ap.add_argument("--config", type=Path, help="architecture config.json, random weights")
    ap.add_argument("--input", type=Path, help="speech file (default: dev speech)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lead-in", type=float, default=2.0, help="seconds of silence first")
    ap.add_argument("--packet-ms", type=float, default=80.0)
    ap.add_argument("--buffer-ms", type=float, default=None)
    ap.add_argument("--chunks", type=int, default=60, help="chunks timed in-process")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    from focalcli.model import load_codec

    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory()
    model = args.model or os.environ.get("FOCAL_MODEL") or ""
    if args.config:
        model = str(random_model(args.config, Path(tmp.name)))
    codec = load_codec(model or None)
    sig = speech_signal(args.input, args.seconds)
    speed = time_sessions(codec, sig, args.chunks)
    e2e = end_to_end(model or codec.name, sig, args.lead_in, args.packet_ms, args.buffer_ms,
                     int(codec.sample_rate_output))
    result = {"model": codec.name, "packet_ms": args.packet_ms, **speed, **e2e}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model {codec.name}, {args.packet_ms:g} ms packets, one thread per process, "
          f"{len(sig) / 16000:.1f} s of speech")
    print(f"  encoder  {speed['encode_ms_median']:.1f} ms per {speed['chunk_ms']:g} ms chunk "
          f"(p95 {speed['encode_ms_p95']:.1f}) = {speed['encode_rtf']:.3f} x real time")
    print(f"  decoder  {speed['decode_ms_median']:.1f} ms per chunk "
          f"(p95 {speed['decode_ms_p95']:.1f}) = {speed['decode_rtf']:.3f} x real time")
    print(f"  end to end (focal stream -> focal play stdout): mean {e2e['end_to_end_ms_mean']:.1f}"
          f" ms, p95 {e2e['end_to_end_ms_p95']:.1f} ms, first sample of a chunk "
          f"{e2e['end_to_end_ms_chunk_first_sample']:.1f} ms, max {e2e['end_to_end_ms_max']:.1f}")
    print(f"    algorithmic (chunk fill)  {e2e['algorithmic_ms_mean']:6.1f} ms mean "
          f"({e2e['algorithmic_ms_chunk_first_sample']:.1f} for a chunk's first sample)")
    print(f"    compute: encode           {e2e['encode_ms']:6.1f} ms")
    print(f"    compute: decode           {e2e['decode_ms']:6.1f} ms")
    print(f"    jitter buffer hold        {e2e['buffer_hold_ms']:6.1f} ms")
    print(f"    pipe and I/O (the rest)   {e2e['pipe_and_io_ms']:6.1f} ms")
    print(f"  play: {' '.join(e2e['play_report'])}")


if __name__ == "__main__":
    main()
