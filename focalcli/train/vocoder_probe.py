"""Probe (a) of issue 13: FARGAN behind focal-small v6's tokens.

v6's encoder, compressor, quantizer and decompressor stay frozen; a small causal head maps the
decompressor's output (B, T, 96) at 50 Hz to FARGAN's 20 LPCNet features of the two 10 ms
frames each token covers, regressed against what Opus's ``dump_data`` extracts from the
original; ``focalcli.model.fargan.FARGAN`` turns them into speech.

    python -m focalcli.train.vocoder_probe cache  [--split train|dev|all] [--speed S | --tilt T]
    python -m focalcli.train.vocoder_probe cache  --folder DIR --name NAME
    python -m focalcli.train.vocoder_probe train  [--steps N] [--run NAME] [--delay-tokens D]
    python -m focalcli.train.vocoder_probe decode --run NAME --out DIR [--oracle]

``cache`` writes ~/.cache/focal/lpcnet-feats/{split}.npz (features, v6 decompressor outputs,
per-file offsets); it needs scripts/get-opus-fargan.sh. With ``--speed S`` every file is first
played S times faster (tempo and pitch, as in ASR's speed perturbation) and the cache is
``{split}-speed{S}.npz``: extra training material for the feature ladder. With ``--tilt T``
every file gets a spectral tilt drawn per file from [-T, T] dB per octave (a microphone's or a
channel's colour) and the cache is ``{split}-tilt{T}.npz``. ``--folder DIR --name NAME`` caches
every WAV/FLAC under DIR as ``NAME.npz``, silence trimmed and the files joined into pieces of
about 8 s (short prompts would otherwise be too short to crop from). ``train`` is
resumable: it continues from ~/.cache/focal/runs/NAME/last.pt. ``decode`` writes one 16 kHz
WAV per dev file (the head's features, or with ``--oracle`` the extracted features, through
FARGAN; with ``--v6`` v6's own decoder) for ``eval_codec.py --dec-dir``. Exit codes: 0 done,
1 bad input or a missing prerequisite.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from focalcli.settings import read_environment

CACHE = read_environment().cache_dir  # $FOCAL_CACHE or ~/.cache/focal
DUMP_DATA = CACHE / "opus" / "opus-1.5.2" / "dump_data"
FEATS_DIR = CACHE / "lpcnet-feats"
RUNS = CACHE / "runs"
FARGAN_WEIGHTS = CACHE / "fargan" / "fargan.safetensors"
SPEECH = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech"
NB_FEATURES = 20
FRAMES_PER_TOKEN = 2  # 10 ms LPCNet frames per 20 ms token


class ProbeError(Exception):
    """A missing prerequisite or bad input, reported as one line."""


def manifest(split: str) -> list[Path]:
    with open(SPEECH / "manifest.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if split in ("all", r["split"])]
    return [SPEECH / r["path"] for r in rows]


def sig_to_lpcnet_feats(sig: np.ndarray) -> np.ndarray:
    """float32 (N,) at 16 kHz -> (N // 160, 20) features from Opus's ``dump_data -test``."""
    if not DUMP_DATA.exists():
        raise ProbeError(f"{DUMP_DATA} missing: run scripts/get-opus-fargan.sh")
    with tempfile.TemporaryDirectory() as tmp:
        pcm = np.clip(np.round(sig * 32768.0), -32768, 32767).astype(np.int16)
        pcm.tofile(f"{tmp}/a.s16")
        subprocess.run([str(DUMP_DATA), "-test", f"{tmp}/a.s16", f"{tmp}/a.f32"], check=True,
                       capture_output=True)
        return np.fromfile(f"{tmp}/a.f32", dtype=np.float32).reshape(-1, 36)[:, :NB_FEATURES]


def load_v6() -> Any:
    from focalcli.model import load_codec

    codec = load_codec("focal-small").eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    return codec


@torch.no_grad()
def sig_to_qfeats(codec: Any, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 (N,) -> (v6 tokens (K,), decompressor output (K, 96)), K = 4 * ceil(N / 1280)."""
    x = torch.from_numpy(sig)[None]
    pad = -x.shape[1] % codec.chunk_size
    x = nn.functional.pad(x, (0, pad))
    toks, _ = codec.sig_to_toks(x)
    qfeats, _ = codec.codes_to_qfeats(codec.toks_to_codes(toks))
    return toks[0].numpy(), qfeats[0].numpy()


def speed_perturbed(sig: np.ndarray, speed: float) -> np.ndarray:
    """float32 (N,) at 16 kHz -> about N / speed samples: the same speech ``speed`` times faster,
    its pitch and formants scaled by ``speed``."""
    import soxr

    if speed == 1.0:
        return sig
    return soxr.resample(sig, 16000 * speed, 16000).astype(np.float32)


def tilted(sig: np.ndarray, db_per_octave: float) -> np.ndarray:
    """float32 (N,) at 16 kHz -> the same samples with their spectrum tilted by
    ``db_per_octave`` around 1 kHz (flat below 62.5 Hz), RMS kept."""
    if db_per_octave == 0.0 or len(sig) == 0:
        return sig
    spec = np.fft.rfft(sig.astype(np.float64))
    f = np.maximum(np.fft.rfftfreq(len(sig), 1 / 16000), 62.5)
    out = np.fft.irfft(spec * (f / 1000.0) ** (db_per_octave / (20 * np.log10(2))), len(sig))
    rms_in, rms_out = np.sqrt(np.mean(sig.astype(np.float64) ** 2)), np.sqrt(np.mean(out**2))
    return (out * (rms_in / max(rms_out, 1e-12))).astype(np.float32)


def file_tilt(name: str, max_db: float) -> float:
    """The tilt (dB per octave) of file ``name`` in a ``--tilt max_db`` copy: uniform in
    [-max_db, max_db], fixed by the name (a re-run makes the same copy)."""
    seed = zlib.crc32(name.encode())
    return float(np.random.default_rng(seed).uniform(-max_db, max_db))


def cache_name(split: str, speed: float = 1.0, tilt: float = 0.0) -> str:
    """The cache file's stem: ``train``, ``train-speed0.9`` for speed-perturbed copies,
    ``train-tilt3`` for tilted ones."""
    if tilt:
        return f"{split}-tilt{tilt:g}"
    return split if speed == 1.0 else f"{split}-speed{speed:g}"


def folder_pieces(folder: Path, seconds: float = 8.0) -> list[tuple[str, np.ndarray]]:
    """Every .wav/.flac under ``folder`` (16 kHz mono), in path order, silence trimmed, joined
    within each sub-folder into pieces of at least ``seconds`` (a shorter remainder too) ->
    (name of the piece's first file, samples)."""
    from focalcli.train.data import read_audio, trim_silence

    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    if not paths:
        raise ProbeError(f"{folder}: no .wav or .flac files")
    pieces: list[tuple[str, np.ndarray]] = []
    parts: list[np.ndarray] = []
    first, parent = "", None
    for path in paths:
        if parts and path.parent != parent:
            pieces.append((first, np.concatenate(parts)))
            parts = []
        sig = trim_silence(read_audio(path), -40.0)
        if len(sig) < 320:
            continue
        if not parts:
            first, parent = str(path.relative_to(folder)), path.parent
        parts.append(sig)
        if sum(map(len, parts)) >= seconds * 16000:
            pieces.append((first, np.concatenate(parts)))
            parts = []
    if parts:
        pieces.append((first, np.concatenate(parts)))
    return pieces


def cache(split: str, speed: float = 1.0, tilt: float = 0.0) -> None:
    from focalcli.train.data import read_audio

    if not 0.5 <= speed <= 2.0:
        raise ProbeError(f"--speed {speed:g}: expected 0.5 to 2.0")
    if not 0.0 <= tilt <= 12.0:
        raise ProbeError(f"--tilt {tilt:g}: expected 0 to 12 dB per octave")
    if tilt and speed != 1.0:
        raise ProbeError("--speed and --tilt: one copy at a time")
    splits = ["train", "dev"] if split == "all" else [split]
    for sp in splits:
        items = []
        for path in manifest(sp):
            name = str(path.relative_to(SPEECH))
            sig = speed_perturbed(read_audio(path), speed)
            items.append((name, tilted(sig, file_tilt(name, tilt)) if tilt else sig))
        write_cache(cache_name(sp, speed, tilt), items)


def cache_folder(folder: Path, name: str) -> None:
    """Every audio file under ``folder`` -> FEATS_DIR/``name``.npz (see ``folder_pieces``)."""
    if not folder.is_dir():
        raise ProbeError(f"--folder {folder}: not a directory")
    if not name or "/" in name or name.partition("-")[0] in ("train", "dev"):
        raise ProbeError(f"--name {name!r}: expected a cache name without '/' that is not "
                         "a split's or a split copy's (train, dev, train-...)")
    write_cache(name, folder_pieces(folder))


def write_cache(stem: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
    """(name, float32 samples) pairs -> FEATS_DIR/``stem``.npz: per file the LPCNet features
    (K, 40), v6's decompressor output (K, 96) and tokens (K,), with the files' offsets."""
    FEATS_DIR.mkdir(parents=True, exist_ok=True)
    codec = load_v6()
    feats, qfeats, toks, offsets, names = [], [], [], [0], []
    t0 = time.time()
    for i, (name, sig) in enumerate(items):
        f = sig_to_lpcnet_feats(sig)
        tk, q = sig_to_qfeats(codec, sig)
        k = min(len(q), len(f) // FRAMES_PER_TOKEN)
        feats.append(f[: k * FRAMES_PER_TOKEN].reshape(k, -1))
        qfeats.append(q[:k].astype(np.float16))
        toks.append(tk[:k])
        offsets.append(offsets[-1] + k)
        names.append(name)
        if i % 100 == 0:
            print(f"{stem}: {i} files, {time.time() - t0:.0f} s", file=sys.stderr)
    out = FEATS_DIR / f"{stem}.npz"
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, feats=np.concatenate(feats), qfeats=np.concatenate(qfeats),
             toks=np.concatenate(toks), offsets=np.array(offsets), names=np.array(names))
    tmp.replace(out)
    print(f"{out}: {offsets[-1]} tokens from {len(names)} files", file=sys.stderr)


class TokenFeatureHead(nn.Module):
    """v6 decompressor output (B, T, 96) -> FARGAN features (B, T, 2 * 20), causal.

    in_proj, a causal convolution over ``kernel`` tokens, a GRU, and a linear output of the GRU
    and convolution outputs; predictions are in standardised units (``mean`` / ``std`` buffers
    map them back). Streaming state: (conv context (B, dim, kernel - 1), GRU state (1, B, dim)).
    """

    def __init__(self, input_dim: int = 96, dim: int = 256, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        out_dim = FRAMES_PER_TOKEN * NB_FEATURES
        self.in_proj = nn.Linear(input_dim, dim)
        self.conv = nn.Conv1d(dim, dim, kernel)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.out = nn.Linear(2 * dim, out_dim)
        self.register_buffer("mean", torch.zeros(out_dim))
        self.register_buffer("std", torch.ones(out_dim))
        self.mean: Tensor
        self.std: Tensor

    def forward(self, qfeats: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """-> (standardised features (B, T, 40), new state)."""
        h = nn.functional.gelu(self.in_proj(qfeats)).transpose(1, 2)
        ctx = h.new_zeros(h.shape[0], h.shape[1], self.kernel - 1) if state is None else state[0]
        h = torch.cat([ctx, h], dim=2)
        new_ctx = h[:, :, h.shape[2] - (self.kernel - 1) :]
        c = nn.functional.gelu(self.conv(h)).transpose(1, 2)
        g, hidden = self.gru(c, None if state is None else state[1])
        return self.out(torch.cat([g, c], dim=-1)), (new_ctx, hidden)

    def to_features(self, y: Tensor) -> Tensor:
        """Standardised (B, T, 40) -> FARGAN features (B, 2 T, 20)."""
        f = y * self.std + self.mean
        return f.reshape(f.shape[0], -1, NB_FEATURES)


def load_split(split: str, speed: float = 1.0) -> dict[str, np.ndarray]:
    """A cached split (or its speed-perturbed copy) -> its arrays, as ``cache`` wrote them."""
    return load_cache(cache_name(split, speed))


def load_cache(stem: str) -> dict[str, np.ndarray]:
    """FEATS_DIR/``stem``.npz (a split, a copy of one, or a cached folder) -> its arrays."""
    path = FEATS_DIR / f"{stem}.npz"
    split, _, copy = stem.partition("-")
    speed = float(copy[5:]) if copy.startswith("speed") else 1.0
    if not path.exists() and speed != 1.0:
        raise ProbeError(f"no speed-{speed:g} copy of the {split} split: run 'python -m "
                         f"focalcli.train.vocoder_probe cache --split {split} --speed {speed:g}'")
    if not path.exists() and copy.startswith("tilt"):
        raise ProbeError(f"no tilt-{copy[4:]} copy of the {split} split: run 'python -m "
                         f"focalcli.train.vocoder_probe cache --split {split} --tilt {copy[4:]}'")
    if not path.exists() and split not in ("train", "dev"):
        raise ProbeError(f"{path} missing: run 'python -m focalcli.train.vocoder_probe cache "
                         f"--folder DIR --name {stem}'")
    if not path.exists():
        raise ProbeError(f"{path} missing: run 'python -m focalcli.train.vocoder_probe cache'")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def train(run: str, steps: int, delay_tokens: int, seq_tokens: int = 150, batch: int = 16,
          lr: float = 1e-3) -> None:
    torch.set_num_threads(1)
    data = load_split("train")
    dev = load_split("dev")
    feats = torch.from_numpy(data["feats"]).float()
    qfeats = torch.from_numpy(data["qfeats"]).float()
    offsets = data["offsets"]
    mean, std = feats.mean(0), feats.std(0).clamp_min(1e-3)
    # Cepstral errors half by the coefficient's own variance (raw-unit MSE, which is
    # proportional to log-spectral distortion), half standardised.
    w = torch.ones(NB_FEATURES)
    var = std.reshape(FRAMES_PER_TOKEN, NB_FEATURES)[:, :18].mean(0) ** 2
    w[:18] = 0.5 + 0.5 * var / var.mean()
    w[18] = 4.0  # pitch: FARGAN's excitation follows it directly
    weights = w.repeat(FRAMES_PER_TOKEN)
    run_dir = RUNS / run
    run_dir.mkdir(parents=True, exist_ok=True)
    head = TokenFeatureHead(qfeats.shape[1])
    head.mean.copy_(mean)
    head.std.copy_(std)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    last = run_dir / "last.pt"
    if last.exists():
        ck = torch.load(last, weights_only=True)
        head.load_state_dict(ck["head"])
        opt.load_state_dict(ck["opt"])
        step = int(ck["step"])
        print(f"resumed {last} at step {step}", file=sys.stderr)
    rng = np.random.default_rng(step)
    lengths = np.diff(offsets)
    ok = np.nonzero(lengths > seq_tokens + delay_tokens)[0]
    t0 = time.time()
    while step < steps:
        files = rng.choice(ok, batch)
        starts = [offsets[f] + rng.integers(0, lengths[f] - seq_tokens - delay_tokens)
                  for f in files]
        x = torch.stack([qfeats[s : s + seq_tokens + delay_tokens] for s in starts])
        y = torch.stack([feats[s : s + seq_tokens] for s in starts])
        pred, _ = head(x)
        pred = pred[:, delay_tokens:]
        err = (pred - (y - mean) / std) ** 2
        loss = (err * weights).mean()
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * (1 - step / steps))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0 or step == steps:
            dev_loss = evaluate(head, dev, delay_tokens, weights)
            print(f"step {step} loss {loss.item():.4f} dev {dev_loss:.4f} "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
            ck = {"head": head.state_dict(), "opt": opt.state_dict(), "step": step,
                  "delay_tokens": delay_tokens, "dim": head.in_proj.out_features}
            torch.save(ck, run_dir / "tmp.pt")
            (run_dir / "tmp.pt").replace(last)


@torch.no_grad()
def evaluate(head: TokenFeatureHead, dev: dict[str, np.ndarray], delay_tokens: int,
             weights: Tensor) -> float:
    feats = torch.from_numpy(dev["feats"]).float()
    qfeats = torch.from_numpy(dev["qfeats"]).float()
    offsets = dev["offsets"]
    total, count = 0.0, 0
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        pred, _ = head(qfeats[a:b][None])
        pred = pred[0, delay_tokens:]
        y = (feats[a : b - delay_tokens] - head.mean) / head.std
        total += float(((pred - y) ** 2 * weights).sum())
        count += y.numel()
    return total / max(count, 1)


def load_fargan() -> Any:
    from safetensors.torch import load_file

    from focalcli.model.fargan import FARGAN

    if not FARGAN_WEIGHTS.exists():
        raise ProbeError(f"{FARGAN_WEIGHTS} missing: run scripts/fargan_weights.py")
    m = FARGAN().eval()
    m.load_state_dict(load_file(str(FARGAN_WEIGHTS)))
    return m


@torch.no_grad()
def feats_to_wav(fargan: Any, feats: np.ndarray, num_samples: int) -> np.ndarray:
    """(F, 20) features -> (num_samples,) float32: FARGAN primed on the first 5 frames, whose
    160 * 5 samples are output as silence so that the output keeps a fixed delay."""
    from focalcli.model.fargan import FRAME_SIZE, PRIME_FRAMES

    sig, _ = fargan(torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))[None])
    out = np.concatenate([np.zeros(PRIME_FRAMES * FRAME_SIZE, np.float32), sig[0].numpy()])
    return np.pad(out, (0, max(0, num_samples - len(out))))[:num_samples]


def decode(run: str | None, out: Path, oracle: bool, limit: int, v6: bool = False) -> None:
    import soundfile as sf

    from focalcli.train.data import read_audio

    torch.set_num_threads(1)
    fargan = load_fargan()
    head = None
    delay = 0
    codec: Any = None
    if v6:
        codec = load_v6()
    elif not oracle:
        if run is None:
            raise ProbeError("decode needs --run (or --oracle)")
        ck_path = RUNS / run / "last.pt"
        if not ck_path.exists():
            raise ProbeError(f"{ck_path} missing: train first")
        ck = torch.load(ck_path, weights_only=True)
        head = TokenFeatureHead(96, int(ck["dim"]))
        head.load_state_dict(ck["head"])
        head.eval()
        delay = int(ck["delay_tokens"])
        codec = load_v6()
    out.mkdir(parents=True, exist_ok=True)
    files = manifest("dev")[: limit or None]
    t_head = t_voc = 0.0
    audio_s = 0.0
    for path in files:
        sig = read_audio(path)
        if v6:  # the bundled decoder, for the same run of the eval tool
            x = nn.functional.pad(torch.from_numpy(sig)[None], (0, -len(sig) % codec.chunk_size))
            with torch.no_grad():
                toks, _ = codec.sig_to_toks(x)
                wav = codec.toks_to_sig(toks)[0][0, : len(sig)].numpy()
        elif head is None:
            feats = sig_to_lpcnet_feats(sig)
        else:
            _, q = sig_to_qfeats(codec, sig)
            t0 = time.perf_counter()
            with torch.no_grad():
                y, _ = head(torch.from_numpy(q).float()[None])
                feats = head.to_features(y)[0].numpy()
            t_head += time.perf_counter() - t0
            # With a delay of D tokens, output frame t describes input token t - D.
            feats = feats[FRAMES_PER_TOKEN * delay :]
        if not v6:
            t0 = time.perf_counter()
            wav = feats_to_wav(fargan, feats, len(sig))
            t_voc += time.perf_counter() - t0
        audio_s += len(sig) / 16000
        name = path.stem + ".wav"
        sf.write(out / f".{name}.tmp.wav", wav, 16000, subtype="PCM_16")
        (out / f".{name}.tmp.wav").replace(out / name)
    print(f"{len(files)} files to {out}; head {t_head / audio_s:.4f} s/s, "
          f"FARGAN {t_voc / audio_s:.4f} s/s", file=sys.stderr)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m focalcli.train.vocoder_probe",
                                 description="FARGAN behind focal-small v6's tokens (issue 13)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--split", default="all", choices=("train", "dev", "all"))
    c.add_argument("--speed", type=float, default=1.0,
                   help="speed perturbation (e.g. 0.9): writes {split}-speed{S}.npz")
    c.add_argument("--tilt", type=float, default=0.0,
                   help="spectral tilt per file within +-T dB/octave: writes {split}-tilt{T}.npz")
    c.add_argument("--folder", type=Path, default=None,
                   help="cache the audio files under this folder instead of a split")
    c.add_argument("--name", default="", help="with --folder: the cache's name (NAME.npz)")
    t = sub.add_parser("train")
    t.add_argument("--run", default="vocoder-probe")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--delay-tokens", type=int, default=0)
    d = sub.add_parser("decode")
    d.add_argument("--run", default=None)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--oracle", action="store_true", help="extracted features, no tokens")
    d.add_argument("--v6", action="store_true", help="v6's own decoder, for comparison")
    d.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "cache" and args.folder is not None:
            cache_folder(args.folder, args.name)
        elif args.cmd == "cache":
            cache(args.split, args.speed, args.tilt)
        elif args.cmd == "train":
            train(args.run, args.steps, args.delay_tokens)
        else:
            decode(args.run, args.out, args.oracle, args.limit, args.v6)
    except ProbeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a write, for OpenMP: idle threads sleep
    sys.exit(main(sys.argv[1:]))
