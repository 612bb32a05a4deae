"""LPCNet feature analysis: parity of our PyTorch port with Opus's ``dump_data -test``, and speed.

    python bench/bench_lpcnet_analysis.py [--files 5] [--chunk-ms 20,100] [--exact-hp]

Takes the first N dev files of the speech manifest (rounded to the int16 grid, as dump_data
reads them), extracts features with ``dump_data -test`` and with
``focalcli.model.lpcnet_analysis.LPCNetAnalysis`` on one thread, and prints, per file and over
all frames: max / mean abs error of the 18 cepstra, of the pitch feature (and the fraction of
frames whose period ``round(256 / 2 ** (p + 1.5))`` differs by more than 1 sample, and at all),
of the correlation feature; and CPU seconds per audio second offline, streamed in chunks of each
``--chunk-ms`` (also checked bit-equal to offline), and of dump_data (whole process).

``--exact-hp`` also runs our analysis on dump_data's DC-removal biquad done the C way (float32
memories, one sample at a time in numpy: slow, a diagnosis only), which isolates how much of the
cepstral difference is that filter's float32 rounding noise near DC.

Needs ``dump_data`` (scripts/get-opus-fargan.sh) and scripts/pitchdnn_weights.py's output.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path.home() / ".cache" / "focal"
DUMP_DATA = CACHE / "opus" / "opus-1.5.2" / "dump_data"
SPEECH = ROOT.parent / "shared" / "data" / "speech"


def dev_files(n: int) -> list[Path]:
    with open(SPEECH / "manifest.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "dev"]
    return [SPEECH / r["path"] for r in rows[:n]]


def dump_data(sig: np.ndarray) -> tuple[np.ndarray, float]:
    """(features (T, 20), CPU seconds of the dump_data process)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.round(sig * 32768.0).astype(np.int16).tofile(f"{tmp}/a.s16")
        t0 = os.times()
        subprocess.run([str(DUMP_DATA), "-test", f"{tmp}/a.s16", f"{tmp}/a.f32"], check=True,
                       capture_output=True)
        t1 = os.times()
        feats = np.fromfile(f"{tmp}/a.f32", dtype=np.float32).reshape(-1, 36)[:, :20]
    return feats, (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)


def c_highpass(sig: np.ndarray) -> np.ndarray:
    """dump_data's DC biquad as the C does it (float32 state, float64 products), per sample."""
    from focalcli.model.lpcnet_analysis import HP_A, HP_B

    b0, b1 = (float(np.float32(v)) for v in HP_B)
    a0, a1 = (float(np.float32(v)) for v in HP_A)
    m0 = m1 = 0.0
    out = np.empty(len(sig), dtype=np.float32)
    f32 = np.float32
    for i, xi in enumerate((sig * 32768.0).astype(np.float32).tolist()):
        yi = float(f32(xi + m0))
        m0 = float(f32(m1 + (b0 * xi - a0 * yi)))
        m1 = float(f32(b1 * xi - a1 * yi))
        out[i] = yi
    return out / np.float32(32768.0)


def errors(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    import torch

    from focalcli.model.lpcnet_analysis import pitch_to_period

    d = np.abs(ours - ref)
    p_ref = pitch_to_period(torch.from_numpy(ref[:, 18])).numpy()
    p_ours = pitch_to_period(torch.from_numpy(ours[:, 18])).numpy()
    voiced = ref[:, 19] + 0.5 > 0.5
    return {
        "ceps_max": float(d[:, :18].max()), "ceps_mean": float(d[:, :18].mean()),
        "pitch_max": float(d[:, 18].max()), "pitch_mean": float(d[:, 18].mean()),
        "pitch_median": float(np.median(d[:, 18])),
        "period_gt1": float((np.abs(p_ref - p_ours) > 1).mean()),
        "period_ne": float((p_ref != p_ours).mean()),
        "period_gt1_voiced": float((np.abs(p_ref - p_ours) > 1)[voiced].mean())
        if voiced.any() else 0.0,
        "corr_max": float(d[:, 19].max()), "corr_mean": float(d[:, 19].mean()),
        "corr_median": float(np.median(d[:, 19])),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5)
    ap.add_argument("--chunk-ms", default="20,100", help="streaming chunk sizes, comma-separated")
    ap.add_argument("--exact-hp", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from focalcli.model.lpcnet_analysis import DEFAULT_WEIGHTS, LPCNetAnalysis
    from focalcli.train.data import read_audio

    if not DUMP_DATA.exists() or not DEFAULT_WEIGHTS.exists():
        print(f"needs {DUMP_DATA} and {DEFAULT_WEIGHTS}", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    chunks = [int(c) for c in args.chunk_ms.split(",") if c]
    model = LPCNetAnalysis().load_opus_weights().eval()
    model_nohp = LPCNetAnalysis(highpass=False).load_opus_weights().eval()
    model.sig_to_feats(torch.zeros(1, 1600))  # warm-up
    all_ours, all_ref, all_exact = [], [], []
    cpu_off = cpu_c = audio_s = 0.0
    cpu_chunk = dict.fromkeys(chunks, 0.0)
    stream_ok = True
    print(f"{'file':32s} {'frames':>6s} {'ceps max':>9s} {'ceps mean':>9s} {'pitch mean':>10s} "
          f"{'period>1':>8s} {'corr mean':>9s}")
    for path in dev_files(args.files):
        sig = read_audio(path)
        sig = (np.clip(np.round(sig * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)
        ref, c_s = dump_data(sig)
        x = torch.from_numpy(sig)[None]
        t0 = time.process_time()
        ours = model.sig_to_feats(x)[0][0].numpy()
        cpu_off += time.process_time() - t0
        for c in chunks:
            step = 16 * c
            st = model.initial_state(1)
            parts = []
            t0 = time.process_time()
            for i in range(0, x.shape[1], step):
                f, st = model.sig_to_feats(x[:, i:i + step], st)
                parts.append(f)
            cpu_chunk[c] += time.process_time() - t0
            streamed = torch.cat(parts, dim=1)[0].numpy()
            stream_ok &= bool(np.array_equal(streamed, ours))
        cpu_c += c_s
        audio_s += len(sig) / 16000
        e = errors(ours, ref)
        print(f"{path.name:32s} {len(ref):6d} {e['ceps_max']:9.2e} {e['ceps_mean']:9.2e} "
              f"{e['pitch_mean']:10.2e} {e['period_gt1']:8.2%} {e['corr_mean']:9.2e}")
        all_ours.append(ours)
        all_ref.append(ref)
        if args.exact_hp:
            all_exact.append(model_nohp.sig_to_feats(
                torch.from_numpy(c_highpass(sig))[None])[0][0].numpy())
    ref = np.concatenate(all_ref)
    rows = [("ours", errors(np.concatenate(all_ours), ref))]
    if all_exact:
        rows.append(("ours, C-float DC filter", errors(np.concatenate(all_exact), ref)))
    print(f"\nall {len(ref)} frames ({audio_s:.1f} s):")
    keys = list(rows[0][1])
    print(f"{'':26s}" + "".join(f"{k:>18s}" for k in keys))
    for name, e in rows:
        print(f"{name:26s}" + "".join(
            f"{e[k]:18.2%}" if k.startswith("period") else f"{e[k]:18.2e}" for k in keys))
    print("\nCPU s per audio s (one thread):")
    print(f"  ours offline           {cpu_off / audio_s:.4f}")
    for c in chunks:
        print(f"  ours {c:4d} ms chunks     {cpu_chunk[c] / audio_s:.4f}")
    print(f"  dump_data (process)    {cpu_c / audio_s:.4f}")
    print(f"streamed == offline (bit-exact, every chunk size): {stream_ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
