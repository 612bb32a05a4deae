"""Re-voice decoded speech with the reference's pitch: the PESQ a decoder could gain from a voice.

    python bench/pitch_oracle.py DEC_DIR REF_DIR OUT_DIR [--mode harmonics|phase] [--amps-from-ref]
    ../shared/eval/.venv-eval/bin/python ../shared/eval/eval_codec.py --ref-dir REF_DIR \\
        --dec-dir OUT_DIR --name oracle --kbps 0.6 --metrics pesq_wb,stoi

This is a diagnostic that reads the reference, not a codec. For each decoded file
``DEC_DIR/<stem>.wav`` and its reference ``REF_DIR/<stem>.*``, the tracker of
``focalcli.model.pitch`` gives f0 and voicing per 20 ms frame of the reference. Voiced frames of
the decoded signal then get that pitch:

- ``harmonics``: the decoded signal is replaced by harmonics of f0 whose amplitudes carry the
  power the decoded signal has in each harmonic's band (60 ms Hann analysis every 20 ms; values
  glide linearly within a frame, the phase runs on). ``--amps-from-ref`` takes the band powers
  from the reference instead: the ceiling for a perfect envelope.
- ``phase``: the decoded signal's STFT magnitude (512-sample window, 128 hop) is kept and voiced
  bins below 8 kHz take the phase of a flat harmonic excitation at f0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from focalcli.model.pitch import sig_to_pitch

SAMPLE_RATE = 16000
HOP = 320  # one token frame


def ref_pitch(ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference (N,) -> (f0 in Hz held through unvoiced frames, voicing 0/1), each (N // HOP,)."""
    log_f0, voiced = sig_to_pitch(torch.from_numpy(ref[: len(ref) // HOP * HOP])[None])
    f0 = log_f0[0].exp().double().numpy()
    v = voiced[0].numpy().astype(np.float64)
    last = 150.0
    for t in range(len(f0)):
        if v[t]:
            last = f0[t]
        f0[t] = last
    return f0, v


def glide(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per-frame values (T, ...) and their predecessors -> per-sample glides (T * HOP, ...)."""
    r = (np.arange(1, HOP + 1) / HOP).reshape((1, HOP) + (1,) * (cur.ndim - 1))
    out = prev[:, None] + (cur - prev)[:, None] * r
    return out.reshape((-1,) + cur.shape[1:])


def running_phase(f0: np.ndarray) -> np.ndarray:
    """f0 (T,) in Hz -> phase (T * HOP,) in radians, f0 gliding within each frame."""
    freq = glide(np.concatenate([f0[:1], f0[:-1]]), f0)
    return np.cumsum(2 * np.pi * freq / SAMPLE_RATE)


def band_amplitudes(src: np.ndarray, f0: np.ndarray, num_harmonics: int = 80,
                    n_fft: int = 960) -> np.ndarray:
    """src (N,) -> (T, K) amplitude of a sinusoid carrying the power of each harmonic band."""
    window = np.hanning(n_fft + 1)[:-1]
    padded = np.pad(src, (n_fft, n_fft))
    amps = np.zeros((len(f0), num_harmonics))
    for t in range(len(f0)):
        centre = n_fft + HOP * t + HOP // 2
        power = np.abs(np.fft.rfft(padded[centre - n_fft // 2: centre + n_fft // 2] * window)) ** 2
        bins = f0[t] * n_fft / SAMPLE_RATE
        for k in range(1, num_harmonics + 1):
            lo, hi = int(round((k - 0.5) * bins)), int(round((k + 0.5) * bins))
            if hi >= n_fft // 2 - 5:
                break
            band_power = 2 * power[lo: max(hi, lo + 1)].sum() / (n_fft * (window ** 2).sum())
            amps[t, k - 1] = np.sqrt(2 * band_power)
    return amps


def revoice_harmonics(dec: np.ndarray, f0: np.ndarray, v: np.ndarray,
                      amp_src: np.ndarray) -> np.ndarray:
    """Voiced frames of dec (N,) become harmonics of f0 with amp_src's band powers."""
    amps = band_amplitudes(amp_src, f0) * v[:, None]
    zero = np.zeros_like(amps[:1])
    a = glide(np.concatenate([zero, amps[:-1]]), amps)  # (T * HOP, K)
    phase = running_phase(f0)
    harmonics = np.zeros_like(phase)
    for k in range(amps.shape[1]):
        harmonics += np.sin((k + 1) * phase) * a[:, k]
    voicing = glide(np.concatenate([[0.0], v[:-1]]), v)
    n = min(len(dec), len(harmonics))
    out = dec.astype(np.float64).copy()
    out[:n] = dec[:n] * (1 - voicing[:n]) + harmonics[:n]
    return out


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    return np.stack([np.fft.rfft(padded[t * hop: t * hop + n_fft] * window)
                     for t in range(1 + len(x) // hop)])


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    out = np.zeros(len(spec) * hop + n_fft)
    norm = np.zeros_like(out)
    for t, frame in enumerate(spec):
        out[t * hop: t * hop + n_fft] += np.fft.irfft(frame, n_fft) * window
        norm[t * hop: t * hop + n_fft] += window ** 2
    return (out / np.maximum(norm, 1e-8))[n_fft // 2: n_fft // 2 + length]


def revoice_phase(dec: np.ndarray, f0: np.ndarray, v: np.ndarray, n_fft: int = 512,
                  hop: int = 128) -> np.ndarray:
    """Voiced bins of dec's STFT take the phase of a flat harmonic excitation at f0."""
    phase = running_phase(f0)
    freq = glide(np.concatenate([f0[:1], f0[:-1]]), f0)
    excitation = np.zeros_like(phase)
    for k in range(1, int(SAMPLE_RATE / 2 / 60) + 1):  # f0 >= 60 Hz
        excitation += np.sin(k * phase) * (k * freq < 7800)
    excitation = np.pad(excitation, (0, max(0, len(dec) - len(excitation))))[: len(dec)]
    spec, exc = stft(dec.astype(np.float64), n_fft, hop), stft(excitation, n_fft, hop)
    frame = np.clip(np.arange(len(spec)) * hop // HOP, 0, len(v) - 1)
    use = (v[frame][:, None] > 0) & (np.abs(exc) > 1e-3 * np.abs(exc).max())
    spec = np.where(use, np.abs(spec) * np.exp(1j * np.angle(exc)), spec)
    return istft(spec, n_fft, hop, len(dec))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dec_dir", type=Path)
    ap.add_argument("ref_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--mode", choices=["harmonics", "phase"], default="harmonics")
    ap.add_argument("--amps-from-ref", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for dec_path in sorted(a.dec_dir.glob("*.wav")):
        refs = sorted(a.ref_dir.glob(dec_path.stem + ".*"))
        if not refs:
            continue
        ref, sr = sf.read(str(refs[0]), dtype="float32")
        dec, sr_dec = sf.read(str(dec_path), dtype="float32")
        if sr != SAMPLE_RATE or sr_dec != SAMPLE_RATE:
            raise SystemExit(f"{dec_path}: both files must be {SAMPLE_RATE} Hz")
        f0, v = ref_pitch(ref)
        if a.mode == "phase":
            out = revoice_phase(dec, f0, v)
        else:
            out = revoice_harmonics(dec, f0, v, ref[: len(dec)] if a.amps_from_ref else dec)
        sf.write(str(a.out_dir / dec_path.name), out, SAMPLE_RATE)
        count += 1
    print(f"re-voiced {count} files into {a.out_dir}")


if __name__ == "__main__":
    main()
