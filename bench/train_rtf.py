"""Streaming real-time factor on one core: 20 s of dev speech pushed in 1280-sample chunks.

    python bench/train_rtf.py [SOURCE]     (default: the bundled focal-small)

Prints encoder and decoder CPU seconds per audio second (EncoderSession / DecoderSession,
torch.set_num_threads(1)).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_eval import dev_files, load_any  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    codec = load_any(sys.argv[1] if len(sys.argv) > 1 else "focal-small")
    from focalcli.engine.session import DecoderSession, EncoderSession

    sig = np.concatenate([sf.read(str(p), dtype="float32")[0] for p in dev_files(8)])
    sig = sig[: 20 * 16000]
    chunk = codec.chunk_size
    enc = EncoderSession(codec)
    toks = []
    enc.push(sig[:chunk])  # warm-up
    enc.reset()
    t = time.process_time()
    w = time.perf_counter()
    for s in range(0, len(sig), chunk):
        toks.append(enc.push(sig[None, s : s + chunk]))
    enc_cpu, enc_wall = time.process_time() - t, time.perf_counter() - w
    all_toks = np.concatenate(toks, axis=1)
    dec = DecoderSession(codec)
    t = time.process_time()
    w = time.perf_counter()
    for s in range(0, all_toks.shape[1], codec.chunk_tokens):
        dec.push(all_toks[:, s : s + codec.chunk_tokens])
    dec_cpu, dec_wall = time.process_time() - t, time.perf_counter() - w
    dur = len(sig) / 16000
    print(f"audio {dur:.1f} s in {chunk}-sample chunks, 1 thread: "
          f"encoder RTF {enc_cpu / dur:.3f} (wall {enc_wall / dur:.3f}), "
          f"decoder RTF {dec_cpu / dur:.3f} (wall {dec_wall / dur:.3f})")


if __name__ == "__main__":
    main()
