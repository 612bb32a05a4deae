"""FARGAN: parity of our PyTorch port with Opus's C, and its streaming real-time factor.

    python bench/bench_fargan.py parity [--files 10] [--out DIR]
    python bench/bench_fargan.py rtf [--seconds 10] [--chunk-frames 2]

``parity`` takes the first N dev files of the speech manifest, extracts LPCNet features with
Opus's ``dump_data -test``, synthesises them with Opus's ``fargan_demo -fargan-synthesis``
(the SIMD build, and the scalar-C build when present) and with ``focalcli.model.fargan.FARGAN``
(plain float, and in Opus arithmetic), and prints per file: the sample SNR of ours against
Opus, how many leading samples of ours (Opus arithmetic) equal the scalar-C build's, and the
log-spectral distance between ours and Opus. It writes 16 kHz WAVs under DIR/{ref,opus,ours}
for ``../shared/eval/eval_codec.py --dec-dir``. Needs scripts/get-opus-fargan.sh (PLAIN_C=1
for the scalar build) and scripts/fargan_weights.py to have run.

``rtf`` streams random features (pitch in the speech range) through FARGAN in chunks of
``--chunk-frames`` 10 ms frames on one thread and prints seconds of compute per second of audio.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "focal"
OPUS = CACHE / "opus" / "opus-1.5.2"
OPUS_PLAIN = CACHE / "opus" / "plain-c" / "opus-1.5.2"
WEIGHTS = CACHE / "fargan" / "fargan.safetensors"
SPEECH = ROOT.parent / "shared" / "data" / "speech"


def dev_files(n: int) -> list[Path]:
    with open(SPEECH / "manifest.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "dev"]
    return [SPEECH / r["path"] for r in rows[:n]]


def load_fargan(opus_arith: bool = False):  # noqa: ANN201
    import torch
    from safetensors.torch import load_file

    from focalcli.model.fargan import FARGAN

    torch.set_num_threads(1)
    m = FARGAN().eval()
    m.load_state_dict(load_file(str(WEIGHTS)))
    m.set_opus_arithmetic(opus_arith)
    return m


def synth(model, feats: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(T, 20) float32 features -> int16 samples, rounded as fargan_demo rounds them."""
    import torch

    with torch.no_grad():
        sig, _ = model(torch.from_numpy(np.ascontiguousarray(feats))[None])
    return np.floor(0.5 + np.clip(32768.0 * sig[0].double().numpy(), -32767, 32767)
                    ).astype(np.int16)


def snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    n = min(len(ref), len(x))
    r, e = ref[:n].astype(np.float64), ref[:n].astype(np.float64) - x[:n]
    return float(10 * np.log10((r**2).sum() / max((e**2).sum(), 1e-9)))


def lsd_db(a: np.ndarray, b: np.ndarray, n_fft: int = 512, hop: int = 160) -> float:
    """Mean log-spectral distance (dB) over frames above -60 dB of the loudest."""
    n = min(len(a), len(b))

    def spec(x: np.ndarray) -> np.ndarray:
        x = x[:n].astype(np.float64) / 32768.0
        idx = np.arange(0, n - n_fft, hop)[:, None] + np.arange(n_fft)
        return np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)) ** 2 + 1e-10

    sa, sb = spec(a), spec(b)
    e = 10 * np.log10(sa.sum(1))
    keep = e > e.max() - 60
    d = 10 * np.log10(sa[keep]) - 10 * np.log10(sb[keep])
    return float(np.sqrt((d**2).mean(1)).mean())


def parity(args: argparse.Namespace) -> int:
    import soundfile as sf

    for tool in (OPUS / "dump_data", OPUS / "fargan_demo"):
        if not tool.exists():
            print(f"error: {tool} missing: run scripts/get-opus-fargan.sh", file=sys.stderr)
            return 1
    if not WEIGHTS.exists():
        print(f"error: {WEIGHTS} missing: run scripts/fargan_weights.py", file=sys.stderr)
        return 1
    out = Path(args.out)
    for d in ("work", "ref", "opus", "ours"):
        (out / d).mkdir(parents=True, exist_ok=True)
    plain_demo = OPUS_PLAIN / "fargan_demo"
    ours, ours_opus = load_fargan(False), load_fargan(True)
    print("file | SNR ours/opus dB | SNR opus-plainC/opus dB | exact samples (opus arith vs "
          "plain C) | LSD ours/opus dB | LSD opus/ref dB")
    rows = []
    for path in dev_files(args.files):
        stem = path.stem
        work = out / "work" / stem
        pcm, sr = sf.read(path, dtype="int16")
        assert sr == 16000 and pcm.ndim == 1, path
        pcm.tofile(f"{work}.s16")
        subprocess.run([str(OPUS / "dump_data"), "-test", f"{work}.s16", f"{work}.f32"],
                       check=True, capture_output=True)
        subprocess.run([str(OPUS / "fargan_demo"), "-fargan-synthesis", f"{work}.f32",
                        f"{work}.opus.s16"], check=True, capture_output=True)
        c_out = np.fromfile(f"{work}.opus.s16", dtype=np.int16)
        feats = np.fromfile(f"{work}.f32", dtype=np.float32).reshape(-1, 36)[:, :20]
        t0 = time.perf_counter()
        y = synth(ours, feats)
        elapsed = time.perf_counter() - t0
        exact = plain_snr = float("nan")
        if plain_demo.exists():
            subprocess.run([str(plain_demo), "-fargan-synthesis", f"{work}.f32",
                            f"{work}.plainc.s16"], check=True, capture_output=True)
            plain = np.fromfile(f"{work}.plainc.s16", dtype=np.int16)
            y_opus = synth(ours_opus, feats)
            diff = np.nonzero(plain[: len(y_opus)] != y_opus[: len(plain)])[0]
            exact = float(diff[0]) if diff.size else float(min(len(plain), len(y_opus)))
            plain_snr = snr_db(c_out, plain)
        row = (stem, snr_db(c_out, y), plain_snr, exact, lsd_db(c_out, y),
               lsd_db(pcm[: len(c_out)], c_out))
        rows.append(row)
        print(f"{stem} | {row[1]:.1f} | {row[2]:.1f} | {row[3]:.0f} | {row[4]:.2f} | {row[5]:.2f}"
              f"   (ours: {elapsed / (len(y) / 16000):.3f} s/s)")
        sf.write(out / "ref" / f"{stem}.wav", pcm, 16000)
        sf.write(out / "opus" / f"{stem}.wav", c_out, 16000)
        sf.write(out / "ours" / f"{stem}.wav", y, 16000)
    a = np.array([r[1:] for r in rows])
    print(f"mean | {a[:, 0].mean():.1f} | {np.nanmean(a[:, 1]):.1f} | {np.nanmin(a[:, 2]):.0f} "
          f"(min) | {a[:, 3].mean():.2f} | {a[:, 4].mean():.2f}")
    return 0


def rtf(args: argparse.Namespace) -> int:
    import torch

    from focalcli.model.fargan import FRAME_SIZE, PRIME_FRAMES

    m = load_fargan(False)
    frames = int(args.seconds * 100)
    g = torch.Generator().manual_seed(0)
    feats = 0.3 * torch.randn(1, PRIME_FRAMES + frames, 20, generator=g)
    feats[..., 18] = torch.empty(1, PRIME_FRAMES + frames).uniform_(-1.0, 0.5, generator=g)
    with torch.no_grad():
        state = m.prime(feats[:, :PRIME_FRAMES])
        m.features_to_sig(feats[:, PRIME_FRAMES : PRIME_FRAMES + 4], state)  # compile, warm up
        for label, chunk in (("offline", frames), (f"streaming {args.chunk_frames} frames",
                                                    args.chunk_frames)):
            s = state
            t0, c0 = time.perf_counter(), time.process_time()
            for t in range(PRIME_FRAMES, PRIME_FRAMES + frames, chunk):
                _, s = m.features_to_sig(feats[:, t : t + chunk], s)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            audio_s = frames * FRAME_SIZE / 16000
            print(f"{label}: RTF {wall / audio_s:.3f} wall, {cpu / audio_s:.3f} CPU "
                  f"({audio_s:.0f} s of audio, torch threads {torch.get_num_threads()})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--out", default=str(CACHE / "fargan" / "parity-dev"))
    r = sub.add_parser("rtf")
    r.add_argument("--seconds", type=float, default=10.0)
    r.add_argument("--chunk-frames", type=int, default=2)
    args = ap.parse_args()
    return parity(args) if args.cmd == "parity" else rtf(args)


if __name__ == "__main__":
    sys.exit(main())
