"""Code speech at one rung of a model with bitrate rungs (nested token groups), through the model
API (the CLI and the .fcs format do not know rungs yet).

One file (an eval ``--cmd``)::

    python bench/ladder_codec.py MODEL IN.wav OUT.wav --groups G [--bits OUT.bin]

A folder, every rung in one process (then score with ``eval_codec.py --dec-dir --bits-dir``)::

    python bench/ladder_codec.py MODEL --ref-dir DEV --out-dir OUT --groups 1,2,4

Streaming real-time factors per rung (CPU seconds per audio second, 80 ms chunks through the
model's explicit states, one thread; the first 20 s of IN, repeated if shorter)::

    python bench/ladder_codec.py MODEL IN.wav --rtf --groups 1,2,4

MODEL: a bundled name, a model folder, or a training checkpoint (.pt / run folder). G: how many
leading groups are sent (1 = 12 bits per frame = 0.6 kbit/s at 50 tokens/s; 2 = 1.2; 4 = 2.4); a
single-group model takes only G = 1. Input: 16 kHz mono (anything else is an error). Coding is
offline on the whole signal, zero-padded to whole chunks, which for a causal model gives the
tokens and samples a stream gives. ``--bits`` writes the tokens actually sent, packed MSB-first
at ``bits_per_group`` bits each, frame by frame (no header, no framing): its size is the payload
bitrate. Folder mode writes ``OUT/g<G>/dec/<stem>.wav`` and ``OUT/g<G>/bits/<stem>.bin``.
Exit codes: 0 ok, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_eval import load_any  # noqa: E402


def sig_to_rung_toks(codec: Any, sig: np.ndarray) -> np.ndarray:
    """(n,) float32 samples -> (K, G) int64 tokens (every group; G = 1 for single-group models)."""
    import torch

    chunk = codec.chunk_size if codec.causal else 1
    padded = np.pad(sig, (0, -len(sig) % chunk))
    with torch.inference_mode():
        toks, _ = codec.sig_to_toks(torch.from_numpy(padded)[None])
    out: np.ndarray = toks[0].numpy()
    return out[:, None] if out.ndim == 1 else out


def rung_toks_to_sig(codec: Any, toks: np.ndarray, groups: int, num_samples: int) -> np.ndarray:
    """(K, G) tokens -> (m,) float32 samples decoded from the first ``groups`` groups, cut or
    edge-padded to ``codec.num_samples_output(num_samples)``."""
    import torch

    sent = torch.from_numpy(np.ascontiguousarray(toks[:, :groups]))[None]
    if codec.num_groups == 1:
        sent = sent[..., 0]
    with torch.inference_mode():
        sig, _ = codec.toks_to_sig(sent)
    y: np.ndarray = sig[0].numpy()
    length = codec.num_samples_output(num_samples)
    y = y[:length]
    return np.pad(y, (0, length - len(y)), mode="edge") if len(y) < length else y


def toks_to_packed_bytes(toks: np.ndarray, bits: int) -> bytes:
    """(K, g) tokens -> bytes, each token ``bits`` bits MSB-first, frame after frame."""
    flat = toks.reshape(-1).astype(np.int64)
    shifts = np.arange(bits - 1, -1, -1)
    bitarr = ((flat[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bitarr).tobytes()


def code_file(codec: Any, src: Path, dst: Path, groups: int, bits_path: Path | None) -> float:
    """Code one file; returns the CPU seconds it took."""
    import soundfile as sf

    sig, sr = sf.read(str(src), dtype="float32", always_2d=True)
    if sr != codec.sample_rate_input or sig.shape[1] != 1:
        raise ValueError(f"{src}: need {codec.sample_rate_input} Hz mono, got {sr} Hz x "
                         f"{sig.shape[1]}")
    t = time.process_time()
    toks = sig_to_rung_toks(codec, sig[:, 0])
    y = rung_toks_to_sig(codec, toks, groups, sig.shape[0])
    cpu = time.process_time() - t
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part.wav")
    sf.write(str(tmp), y, codec.sample_rate_output)
    tmp.replace(dst)
    if bits_path is not None:
        bits_path.parent.mkdir(parents=True, exist_ok=True)
        bits_path.write_bytes(toks_to_packed_bytes(toks[:, :groups], codec.bits_per_group))
    return cpu


def streaming_rtf(codec: Any, sig: np.ndarray, groups: int) -> tuple[float, float]:
    """(encoder, decoder) CPU seconds per audio second, chunk by chunk with explicit states."""
    import torch

    n = codec.chunk_size
    sig = np.resize(sig, 20 * codec.sample_rate_input)  # 20 s, repeated if shorter
    sig = np.pad(sig, (0, -len(sig) % n))
    x = torch.from_numpy(sig)[None]
    with torch.inference_mode():
        t = time.process_time()
        state, pieces = None, []
        for start in range(0, x.shape[1], n):
            toks, state = codec.sig_to_toks(x[:, start : start + n], state)
            pieces.append(toks)
        enc = time.process_time() - t
        toks = torch.cat(pieces, dim=1)
        sent = toks[..., :groups] if codec.num_groups > 1 else toks
        k = codec.chunk_tokens
        t = time.process_time()
        dstate = None
        for start in range(0, sent.shape[1], k):
            _, dstate = codec.toks_to_sig(sent[:, start : start + k], dstate)
        dec = time.process_time() - t
    seconds = len(sig) / codec.sample_rate_input
    return enc / seconds, dec / seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("inp", nargs="?", help="input WAV/FLAC (one-file mode)")
    p.add_argument("out", nargs="?", help="decoded WAV (one-file mode)")
    p.add_argument("--groups", default="1", help="groups sent: G, or G,G,... in folder mode")
    p.add_argument("--bits", default=None, help="write the sent tokens here (one-file mode)")
    p.add_argument("--ref-dir", default=None, help="folder mode: code every audio file here")
    p.add_argument("--out-dir", default=None, help="folder mode: output folder")
    p.add_argument("--rtf", action="store_true", help="streaming real-time factors of IN")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    try:
        rungs = [int(g) for g in a.groups.split(",")]
    except ValueError:
        print(f"error: --groups {a.groups!r}: expected integers", file=sys.stderr)
        return 2
    codec = load_any(a.model)
    bad = [g for g in rungs if not 1 <= g <= codec.num_groups]
    if bad:
        print(f"error: --groups {bad[0]}: the model has {codec.num_groups} group(s)",
              file=sys.stderr)
        return 2
    try:
        if a.ref_dir:
            if not a.out_dir:
                print("error: --ref-dir needs --out-dir", file=sys.stderr)
                return 2
            files = sorted(f for f in Path(a.ref_dir).iterdir() if f.suffix in (".wav", ".flac"))
            for g in rungs:
                base = Path(a.out_dir) / f"g{g}"
                cpu = sum(code_file(codec, f, base / "dec" / (f.stem + ".wav"), g,
                                    base / "bits" / (f.stem + ".bin")) for f in files)
                print(f"g{g}: {len(files)} files, {cpu:.1f} CPU s, "
                      f"{codec.rung_bitrate_kbps(g):g} kbit/s payload")
            return 0
        if a.rtf and a.inp:
            import soundfile as sf

            sig, _ = sf.read(a.inp, dtype="float32")
            for g in rungs:
                enc, dec = streaming_rtf(codec, sig, g)
                print(f"g{g}: encoder RTF {enc:.3f}, decoder RTF {dec:.3f}")
            return 0
        if not (a.inp and a.out) or len(rungs) != 1:
            print("error: one-file mode needs IN OUT and one --groups value", file=sys.stderr)
            return 2
        code_file(codec, Path(a.inp), Path(a.out), rungs[0], Path(a.bits) if a.bits else None)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
