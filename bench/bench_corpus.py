"""Corpus throughput: files per second for -j 1, -j 2 and Ray with 1 and 2 workers.

Copies N files of the speech data's dev split to a temporary folder, encodes them with the
bundled model each way (the real `focal encode` in a subprocess, one torch thread per
worker) and prints wall time, files/s and times real time. Each run is preceded by the same
command on one file: its wall time is the start-up (Python, torch, model load; for Ray also
connecting and starting the workers), and ``(N - 1) / (wall - start-up)`` the steady rate
a long corpus approaches. The Ray runs join one local cluster started here first (its
start-up is printed apart; `--ray local` would pay it on every run). Then the encoder's CPU
cost per second of audio, for every bundled model and every catalogued official architecture
(random weights: the same arithmetic as the real ones), and what tokenizing a 60,000-hour
corpus costs in CPU-hours at that rate (`--cost-only`: that table alone).

    nice -n 5 python bench/bench_corpus.py                 # 40 files, all four runs

The last column (local runs only: Ray's workers are not this process's children) is the CPU
the whole pipeline spends per second of audio past start-up; the encoder-only figures below
come from `time.process_time`, so other load on the machine slows them little.
    python bench/bench_corpus.py --files 10 --no-ray
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared" / "data" / "speech"
CORPUS_HOURS = 60_000
#: a run that takes longer than this is a hang, not a figure
RUN_TIMEOUT_S = 1800


def copy_dev_files(speech: Path, dest: Path, count: int) -> float:
    """Copy the first `count` dev files (sorted by path) to `dest`; return their seconds."""
    with open(speech / "manifest.tsv", newline="") as fh:
        rows = sorted((r for r in csv.DictReader(fh, delimiter="\t") if r["split"] == "dev"),
                      key=lambda r: r["path"])[:count]
    if len(rows) < count:
        sys.exit(f"only {len(rows)} dev files in {speech}")
    for row in rows:
        target = dest / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(speech / row["path"], target)
    return sum(float(r["duration_s"]) for r in rows)


def timed_encode(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the `focal encode` process itself, not of Ray workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "focalcli", "encode", "-q", *args],
                              env=env, capture_output=True, text=True, check=False,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        sys.exit(f"focal encode {' '.join(args)} did not finish in {RUN_TIMEOUT_S} s: "
                 f"{(err.stderr or b'')[-2000:]!r}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"focal encode {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def encoder_cpu_per_audio_s(codec: object, speech: Path, seconds: float) -> float:
    """CPU seconds the encoder spends per second of speech (one thread, offline encode)."""
    import numpy as np
    import soundfile as sf

    from focalcli.audio import resample
    from focalcli.engine import encode_signal

    rate_in = codec.sample_rate_input  # type: ignore[attr-defined]
    parts, total = [], 0
    with open(speech / "manifest.tsv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["split"] != "dev":
                continue
            sig, rate = sf.read(speech / row["path"], dtype="float32", always_2d=True)
            sig = resample(sig.T.mean(axis=0, keepdims=True), rate, rate_in)
            parts.append(sig)
            total += sig.shape[1]
            if total >= seconds * rate_in:
                break
    sig = np.concatenate(parts, axis=1)[:, : int(seconds * rate_in)]
    encode_signal(codec, sig[:, :rate_in])  # warm-up
    start = time.process_time()
    encode_signal(codec, sig)
    return (time.process_time() - start) / (sig.shape[1] / rate_in)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--speech", type=Path, default=SPEECH,
                    help="speech folder with manifest.tsv (path, split, duration_s)")
    ap.add_argument("--no-ray", action="store_true", help="only the local -j runs")
    ap.add_argument("--rtf-seconds", type=float, default=20.0,
                    help="seconds of speech for the encoder CPU cost")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the encoder CPU cost table, no corpus runs")
    args = ap.parse_args()
    if args.cost_only:
        cost(args.speech, args.rtf_seconds)
        return
    env = dict(os.environ, FOCAL_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HF_HUB_OFFLINE="1")
    env.pop("FOCAL_MODEL", None)
    env.pop("FOCAL_JOBS", None)
    env.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ["RAY_AUTH_MODE"] = env["RAY_AUTH_MODE"]
    import soundfile as sf

    tmp = Path(tempfile.mkdtemp(prefix="bench_corpus."))
    try:
        corpus = tmp / "corpus"
        audio_s = copy_dev_files(args.speech, corpus, args.files)
        print(f"corpus: {args.files} dev files, {audio_s:.1f} s of speech; bundled model; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
        runs: list[tuple[str, list[str]]] = [("-j 1", ["-j", "1"]), ("-j 2", ["-j", "2"])]
        address = None
        if not args.no_ray:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
            import ray

            start = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                     log_to_driver=False)
            address = ray.get_runtime_context().gcs_address
            print(f"local Ray cluster (2 CPUs) started in {time.perf_counter() - start:.1f} s")
            runs += [("Ray, 1 worker", ["--ray", address, "-j", "1"]),
                     ("Ray, 2 workers", ["--ray", address, "-j", "2"])]
        one = sorted(corpus.rglob("*.flac"))[0]
        one_s = float(sf.info(one).duration)
        print(f"\n{'run':<16}{'wall s':>8}{'files/s':>9}{'x real time':>13}"
              f"{'start-up s':>12}{'steady files/s':>16}{'CPU s/audio s':>15}")
        for i, (name, extra) in enumerate(runs):
            startup, cpu_one = timed_encode([str(one), "-d", str(tmp / f"one{i}"), *extra], env)
            wall, cpu = timed_encode([str(corpus), "-d", str(tmp / f"out{i}"), *extra], env)
            steady = (args.files - 1) / max(wall - startup, 1e-3)
            # CPU of the pipeline past start-up (decode, resample, encode, write), per audio s
            pipe = "-" if "--ray" in extra else f"{(cpu - cpu_one) / (audio_s - one_s):.4f}"
            print(f"{name:<16}{wall:>8.1f}{args.files / wall:>9.2f}{audio_s / wall:>13.1f}"
                  f"{startup:>12.1f}{steady:>16.2f}{pipe:>15}", flush=True)
        if address is not None:
            import ray

            ray.shutdown()
        same = all((tmp / f"out{i}" / p.relative_to(corpus)).with_suffix(".fcs").read_bytes()
                   == (tmp / "out0" / p.relative_to(corpus)).with_suffix(".fcs").read_bytes()
                   for i in range(1, len(runs)) for p in corpus.rglob("*.flac"))
        print(f"all runs wrote the same .fcs bytes: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cost(args.speech, args.rtf_seconds)


def official_configs() -> dict[str, dict]:
    """Full-size configs of the catalogued official models (random weights: the same
    arithmetic): the shared spec's, and the 25 / 12.5 Hz ones as the 50 Hz non-causal model
    with the compressor's downscale_factors [1, 1, 2] / [1, 2, 2] (mirrored on the way up)."""
    folder = ROOT / "tests" / "model" / "configs"
    configs = {f"focalcodec_{stem}": json.loads((folder / f"{stem}.json").read_text())
               for stem in ("50hz_2k_causal", "50hz_4k_causal", "50hz_65k_causal")}
    base = json.loads((folder / "50hz_noncausal.json").read_text())
    configs["focalcodec_50hz"] = base
    for name, factors in (("focalcodec_25hz", [1, 1, 2]), ("focalcodec_12_5hz", [1, 2, 2])):
        config = json.loads(json.dumps(base))
        config["compressor_config"]["downscale_factors"] = factors
        config["decompressor_config"]["upscale_factors"] = factors[::-1]
        configs[name] = config
    return configs


def cost(speech: Path, seconds: float) -> None:
    """Encoder CPU seconds per audio second and the CPU-hours of a 60,000-hour corpus, for
    every bundled model and every catalogued official one (fp32, and the streaming default
    precision for the causal 4k model)."""
    import torch

    from focalcli.model import load_codec
    from focalcli.model.codec import FocalCodec
    from focalcli.model.precision import apply_precision
    from focalcli.model.registry import bundled_names

    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"\nencoder CPU cost, 1 thread, {seconds:.0f} s of dev speech, offline encode "
          f"(load average {os.getloadavg()[0]:.1f}):")
    print(f"{'model':<40}{'CPU s / audio s':>16}{'CPU-h for 60k h':>17}")
    rows: list[tuple[str, object]] = [(f"{n} (bundled)", None) for n in bundled_names()]
    rows += [(f"{n} (arch.)", c) for n, c in official_configs().items()]
    rows.append(("focalcodec_50hz_4k_causal (arch., mixed)", "mixed"))
    for name, what in rows:
        if what is None:
            codec = load_codec(name.split(" ")[0])
        elif what == "mixed":
            codec = FocalCodec(official_configs()["focalcodec_50hz_4k_causal"]).eval()
            codec = apply_precision(codec, "mixed")
        else:
            codec = FocalCodec(what).eval()  # type: ignore[arg-type]
        rtf = encoder_cpu_per_audio_s(codec, speech, seconds)
        print(f"{name:<40}{rtf:>16.4f}{rtf * CORPUS_HOURS:>17,.0f}", flush=True)
        del codec


if __name__ == "__main__":
    main()
