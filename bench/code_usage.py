"""How much of the codebook a model uses on the dev split.

    python bench/code_usage.py [SOURCE [AUDIO_DIR]]   (default: focal-small on the dev split)

SOURCE: a model folder / bundled name, a training checkpoint or a run folder. Prints the number of
distinct tokens, the unigram entropy in bits per token (the rate an ideal entropy coder would need,
in kbps too), the fraction of tokens that repeat the previous one, and the mean of each bit.
AUDIO_DIR: 16 kHz files to encode instead of the dev split listed in ``../shared``'s manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_eval import dev_files, load_any, ref_files  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    codec = load_any(sys.argv[1] if len(sys.argv) > 1 else "focal-small")
    from focalcli.engine.offline import encode_signal

    toks = []
    repeats = 0
    with torch.inference_mode():
        files = ref_files(Path(sys.argv[2]), None) if len(sys.argv) > 2 else dev_files(None)
        for path in files:
            sig, _ = sf.read(str(path), dtype="float32")
            t = encode_signal(codec, sig[None])[0]
            repeats += int((t[1:] == t[:-1]).sum())
            toks.append(t)
    allt = np.concatenate(toks)
    counts = np.bincount(allt, minlength=codec.codebook_size)
    p = counts[counts > 0] / allt.size
    entropy = float(-(p * np.log2(p)).sum())
    bits = (allt[:, None] >> np.arange(codec.bits_per_token - 1, -1, -1)) & 1
    print(f"{allt.size} tokens on dev; {len(p)} of {codec.codebook_size} codes used")
    print(f"unigram entropy {entropy:.2f} bits/token = {entropy * codec.token_rate / 1000:.3f} "
          f"kbps (vs {codec.bitrate_kbps:g} kbps raw)")
    print(f"tokens equal to the previous one: {repeats / max(1, allt.size - len(toks)):.1%}")
    print("bit means (MSB first):", " ".join(f"{m:.2f}" for m in bits.mean(axis=0)))


if __name__ == "__main__":
    main()
