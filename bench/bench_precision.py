"""Streaming speed, memory and accuracy of each compute precision against fp32, in one run.

Each precision runs in its own subprocess (so its peak RSS is its own): it loads the model at
that precision (``load_codec(..., precision=...)``), then streams the signal 80 ms at a time
through an ``EncoderSession`` and a ``DecoderSession`` on one thread, the work of a
``focal stream | focal play`` pair. Per chunk it records wall time and CPU time
(``time.thread_time``) of the encoder side and of the decoder side. The parent prints, per
precision: median and p95 wall ms per chunk (encode + decode), median CPU ms per chunk, the
encoder side's and the decoder side's p95 wall and median CPU ms, the speed-up of the p95 and
of the CPU time over fp32's, peak RSS, weight bytes, load time, and accuracy against fp32:
token agreement (same input) and the SNR of the decoded audio against fp32's decoded audio,
end to end and for fp32's tokens decoded at that precision (the decoder's own cost). The load
averages (as `uptime` gives them) at the start and end of each worker are printed with the
table: the machine may be shared, and the CPU-time columns are the ones load disturbs least.

``--live`` also runs ``focal stream --realtime | focal play`` (two processes, one thread each,
at the streaming default precision) over the same speech and prints what each side reports:
encode ms per chunk, decode ms per group, late / concealed packets and buffer underruns.

    python bench/bench_precision.py                        # the 4k causal architecture, random
                                                           # weights (a folder made once in /tmp)
    python bench/bench_precision.py --model focal-small    # the bundled model (real weights)
    python bench/bench_precision.py --seconds 16 --precisions fp32,bf16,mixed,int8 --live

Run it on a quiet machine: `nice -n 5`, one thread (OMP_NUM_THREADS=1 is set for the workers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared" / "data" / "speech"
SPEC_4K = ROOT.parent / "shared" / "spec" / "configs" / "50hz_4k_causal.json"
RANDOM_4K = Path(tempfile.gettempdir()) / "focal-bench-4k-causal-random"
WARMUP_CHUNKS = 3


def speech_signal(seconds: float) -> np.ndarray:
    """Mono float32 16 kHz speech from the dev split (or a synthetic tone), `seconds` long."""
    import soundfile as sf

    parts: list[np.ndarray] = []
    manifest = SPEECH / "manifest.tsv"
    if manifest.is_file():
        rows = [line.split("\t") for line in manifest.read_text().splitlines()[1:]]
        for row in rows:
            if len(row) > 1 and row[1] == "dev":
                sig, rate = sf.read(SPEECH / row[0], dtype="float32")
                if rate == 16000 and sig.ndim == 1:
                    parts.append(sig)
            if sum(map(len, parts)) >= seconds * 16000:
                break
    if not parts:
        t = np.arange(int(seconds * 16000)) / 16000
        parts = [(0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)]
    return np.concatenate(parts)[: int(seconds * 16000)].astype(np.float32)


def make_random_4k(folder: Path) -> Path:
    """The 4k causal architecture (spec config) with seeded random weights, saved once."""
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from safetensors.torch import save_file

    from focalcli.model.codec import FocalCodec

    torch.manual_seed(0)
    codec = FocalCodec(json.loads(SPEC_4K.read_text()))
    with torch.no_grad():
        codec.decoder.head.proj.weight.mul_(0.1)  # keep the random output inside [-1, 1]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.safetensors.part"
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(tmp))
    (folder / "config.json").write_text(SPEC_4K.read_text())
    tmp.rename(folder / "model.safetensors")
    return folder


def worker(model: str, precision: str, seconds: float, out_dir: Path, toks_in: Path | None
           ) -> dict[str, Any]:
    """Load at `precision`, stream chunk by chunk; save tokens and audio; return timings."""
    import torch

    from focalcli.engine import DecoderSession, EncoderSession
    from focalcli.model import load_codec
    from focalcli.model.precision import weight_bytes

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    codec = load_codec(model, precision=precision)
    load_s = time.perf_counter() - t0
    sig = speech_signal(seconds)[None]
    chunk = codec.chunk_size
    sig = sig[:, : sig.shape[1] // chunk * chunk]
    # per chunk: (encode wall, encode CPU, decode wall, decode CPU), seconds
    times: list[tuple[float, float, float, float]] = []
    toks_out, audio_out = [], []
    with EncoderSession(codec) as enc, DecoderSession(codec) as dec:
        for start in range(0, sig.shape[1], chunk):
            w0, c0 = time.perf_counter(), time.thread_time()
            toks = enc.push(sig[:, start : start + chunk])
            w1, c1 = time.perf_counter(), time.thread_time()
            audio_out.append(dec.push(toks))
            w2, c2 = time.perf_counter(), time.thread_time()
            times.append((w1 - w0, c1 - c0, w2 - w1, c2 - c1))
            toks_out.append(toks)
    toks_all = np.concatenate(toks_out, axis=1)
    np.save(out_dir / f"{precision}_toks.npy", toks_all)
    np.save(out_dir / f"{precision}_audio.npy", np.concatenate(audio_out, axis=1))
    if toks_in is not None:  # fp32's tokens through this precision's decoder
        with DecoderSession(codec) as dec:
            ref_toks = np.load(toks_in)
            audio = np.concatenate([dec.push(ref_toks), dec.flush()], axis=1)
        np.save(out_dir / f"{precision}_audio_fp32toks.npy", audio)
    t = np.array(times[WARMUP_CHUNKS:]) * 1000  # ms
    wall, cpu = t[:, 0] + t[:, 2], t[:, 1] + t[:, 3]
    return {
        "precision": precision, "chunks": len(t), "load_s": load_s,
        "median_ms": float(np.median(wall)), "p95_ms": float(np.percentile(wall, 95)),
        "cpu_ms": float(np.median(cpu)), "cpu_p95_ms": float(np.percentile(cpu, 95)),
        "enc_p95_ms": float(np.percentile(t[:, 0], 95)), "enc_cpu_ms": float(np.median(t[:, 1])),
        "dec_p95_ms": float(np.percentile(t[:, 2], 95)), "dec_cpu_ms": float(np.median(t[:, 3])),
        "chunk_ms": 1000 * chunk / codec.sample_rate_input,
        "weights_mb": weight_bytes(codec) / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg": [list(load_before), list(os.getloadavg())],
    }


def live(model: str, seconds: float, buffer_ms: float | None = None) -> None:
    """`focal stream --realtime | focal play` over `seconds` of speech; print both reports.

    `buffer_ms`: the player's jitter buffer (its --buffer-ms), or None for its default.
    """
    import soundfile as sf

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", FOCAL_THREADS="1")
    focal = [sys.executable, "-m", "focalcli"]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, speech_signal(seconds), 16000)
        before = os.getloadavg()
        stream = subprocess.Popen([*focal, "stream", "-v", "-i", str(wav), "--realtime",
                                   "-m", model], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        buffer = [] if buffer_ms is None else ["--buffer-ms", f"{buffer_ms:g}"]
        play = subprocess.run([*focal, "play", "-v", "-", "-m", model, *buffer, "-o",
                               str(Path(tmp) / "out.wav")], stdin=stream.stdout,
                              capture_output=True, text=True, env=env, check=False)
        assert stream.stdout is not None and stream.stderr is not None
        stream.stdout.close()
        stream_err = stream.stderr.read().decode()
        stream.wait()
        after = os.getloadavg()
    print(f"\nlive: focal stream --realtime -m MODEL | focal play -m MODEL {' '.join(buffer)} "
          f"({seconds:g} s of "
          f"speech, streaming default precision, one thread each); load average "
          f"{' '.join(f'{x:.2f}' for x in before)} -> {' '.join(f'{x:.2f}' for x in after)}")
    for line in (stream_err + play.stderr).splitlines():
        if "ended" in line or "played" in line or "error" in line.lower():
            print("  " + line.strip())


def snr_db(ref: np.ndarray, other: np.ndarray) -> float:
    n = min(ref.shape[-1], other.shape[-1])
    noise = float(((ref[..., :n] - other[..., :n]) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((ref[..., :n] ** 2).sum()) / noise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", help="model name or folder (default: the 4k causal architecture "
                                    "with random weights, saved once under /tmp)")
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--precisions", default="fp32,bf16,mixed,int8")
    ap.add_argument("--live", action="store_true",
                    help="also time `focal stream --realtime | focal play` with the model")
    ap.add_argument("--buffer-ms", type=float,
                    help="the player's jitter buffer in the --live run (default: its own)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", help=argparse.SUPPRESS)
    ap.add_argument("--toks-in", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        toks_in = Path(args.toks_in) if args.toks_in else None
        result = worker(args.model, args.worker, args.seconds, Path(args.out_dir), toks_in)
        print(json.dumps(result))
        return

    model = args.model or str(make_random_4k(RANDOM_4K))
    precisions = args.precisions.split(",")
    if precisions[0] != "fp32":
        precisions.insert(0, "fp32")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", FOCAL_THREADS="1")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in precisions:
            cmd = [sys.executable, __file__, "--worker", p, "--model", model,
                   "--seconds", str(args.seconds), "--out-dir", tmp]
            if p != "fp32":
                cmd += ["--toks-in", str(Path(tmp) / "fp32_toks.npy")]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{p}: worker failed:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            ref_toks = np.load(Path(tmp) / "fp32_toks.npy")
            toks = np.load(Path(tmp) / f"{p}_toks.npy")
            ref_audio = np.load(Path(tmp) / "fp32_audio.npy")
            r["token_agreement"] = float((toks == ref_toks).mean())
            r["snr_db"] = snr_db(ref_audio, np.load(Path(tmp) / f"{p}_audio.npy"))
            dec_only = Path(tmp) / f"{p}_audio_fp32toks.npy"
            r["snr_decoder_db"] = (snr_db(ref_audio, np.load(dec_only)) if dec_only.is_file()
                                   else float("inf"))
            results.append(r)
            print(f"  {p}: done ({r['chunks']} chunks timed)", file=sys.stderr, flush=True)

    base = results[0]
    print(f"model {model}; {args.seconds:g} s of speech in {base['chunk_ms']:g} ms chunks "
          f"(encode + decode per chunk), 1 thread, first {WARMUP_CHUNKS} chunks not timed")
    print("| precision | median ms | p95 ms | CPU ms | enc p95 | enc CPU | dec p95 | dec CPU "
          "| p95 vs fp32 | CPU vs fp32 | peak RSS MB | weights MB | load s | tokens = fp32 "
          "| SNR dB | dec SNR dB | load avg (start -> end) |")
    print("|" + "---|" * 17)
    for r in results:
        (a1, a5, a15), (b1, b5, b15) = r["load_avg"]
        print(f"| {r['precision']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['cpu_ms']:.1f} "
              f"| {r['enc_p95_ms']:.1f} | {r['enc_cpu_ms']:.1f} | {r['dec_p95_ms']:.1f} "
              f"| {r['dec_cpu_ms']:.1f} | {base['p95_ms'] / r['p95_ms']:.2f} "
              f"| {base['cpu_ms'] / r['cpu_ms']:.2f} | {r['peak_rss_mb']:.0f} "
              f"| {r['weights_mb']:.0f} | {r['load_s']:.1f} | {100 * r['token_agreement']:.2f} % "
              f"| {r['snr_db']:.1f} | {r['snr_decoder_db']:.1f} "
              f"| {a1:.2f} {a5:.2f} {a15:.2f} -> {b1:.2f} {b5:.2f} {b15:.2f} |")
    print("ms are per 80 ms chunk; CPU: median thread CPU time; enc / dec: the encoder side "
          "(EncoderSession.push) and the decoder side (DecoderSession.push) alone; tokens =: "
          "token agreement with fp32; SNR: decoded audio against fp32's; dec SNR: fp32's "
          "tokens decoded at this precision against fp32's audio")
    if args.live:
        live(model, args.seconds, args.buffer_ms)


if __name__ == "__main__":
    main()
