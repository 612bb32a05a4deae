"""Speed and memory of the model layer and streaming engine on CPU.

Prints: parameters per module; offline real-time factor (encode + decode seconds per second of
audio); streaming time per 80 ms chunk (median, p95) for the encoder and decoder sessions; peak
RSS. Random weights of the given config (default: the official 4k causal architecture).

    python bench/bench_model.py                          # 4k causal, 1 thread
    python bench/bench_model.py --threads 2
    python bench/bench_model.py --model focal-small      # a real (e.g. the bundled) model
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from focalcli.engine import DecoderSession, EncoderSession, decode_tokens, encode_signal
from focalcli.model import load_codec
from focalcli.model.codec import FocalCodec

CONFIG_4K = Path(__file__).resolve().parent.parent / "tests/model/configs/50hz_4k_causal.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG_4K, help="config.json, random weights")
    ap.add_argument("--model", help="load this model instead (name, folder, hub id)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length for offline")
    ap.add_argument("--chunks", type=int, default=40, help="streaming chunks to time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        codec = load_codec(args.model)
    else:
        codec = FocalCodec(json.loads(args.config.read_text())).eval()
        codec.name = args.config.stem
    params = codec.num_parameters()
    print(f"model {codec.name}: {sum(params.values()):,} parameters "
          f"({', '.join(f'{k} {v:,}' for k, v in params.items() if v)})")
    print(f"threads {args.threads}; {codec.sample_rate_input} Hz in, "
          f"{codec.sample_rate_output} Hz out, chunk {codec.chunk_size} samples "
          f"({codec.latency_ms} ms)")

    rng = np.random.default_rng(0)
    n = int(args.seconds * codec.sample_rate_input)
    sig = (0.1 * rng.standard_normal((1, n))).astype(np.float32)
    encode_signal(codec, sig[:, : codec.chunk_size * 4])  # warm-up
    t0 = time.perf_counter()
    toks = encode_signal(codec, sig)
    t1 = time.perf_counter()
    decode_tokens(codec, toks)
    t2 = time.perf_counter()
    print(f"offline: encode {(t1 - t0) / args.seconds:.3f} s/s, decode "
          f"{(t2 - t1) / args.seconds:.3f} s/s, total {(t2 - t0) / args.seconds:.3f} s per "
          f"second of audio ({args.seconds:.0f} s input)")

    if codec.causal:
        enc, dec = EncoderSession(codec), DecoderSession(codec)
        enc_ms, dec_ms = [], []
        for i in range(args.chunks + 3):
            chunk = sig[:, (i * codec.chunk_size) % (n - codec.chunk_size):][:, : codec.chunk_size]
            a = time.perf_counter()
            t = enc.push(chunk)
            b = time.perf_counter()
            dec.push(t)
            c = time.perf_counter()
            if i >= 3:  # skip warm-up chunks
                enc_ms.append(1000 * (b - a))
                dec_ms.append(1000 * (c - b))
        total = [e + d for e, d in zip(enc_ms, dec_ms, strict=True)]

        def stats(xs: list[float]) -> str:
            p95 = statistics.quantiles(xs, n=20)[-1]
            return f"median {statistics.median(xs):.1f} ms, p95 {p95:.1f} ms"

        chunk_ms = codec.latency_ms or 0.0
        print(f"streaming per {chunk_ms:.0f} ms chunk: encoder {stats(enc_ms)}; decoder "
              f"{stats(dec_ms)}; both {stats(total)} "
              f"(= {statistics.median(total) / chunk_ms:.2f} s per second of audio)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
