"""Check focal's PyTorch Whisper teacher against faster-whisper and CTranslate2 (not a test:
needs the eval environment, which has both, and the downloaded teacher).

    PYTHONPATH=. ~/.cache/focal/venv-eval/bin/python scripts/check-whisper-teacher.py \
        ~/.cache/focal/teachers/whisper-tiny.en FILE.flac...

Prints, per file, the largest absolute difference of the log-mel features (ours against
faster_whisper's FeatureExtractor with padding=0) and of the encoder's last layer (ours on our
mel against CTranslate2's ``encode`` on the same mel, float32).
"""

from __future__ import annotations

import sys

import ctranslate2
import numpy as np
import soundfile as sf
import torch
from faster_whisper.feature_extractor import FeatureExtractor

from focalcli.train.teachers.whisper import load_whisper_encoder, sig_to_whisper_mel


def main() -> int:
    torch.set_num_threads(1)
    model_dir, files = sys.argv[1], sys.argv[2:]
    ours = load_whisper_encoder(model_dir)
    ct2 = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32",
                                     intra_threads=1)
    fe = FeatureExtractor(feature_size=80)
    worst_mel = worst_enc = 0.0
    for path in files:
        sig, sr = sf.read(path, dtype="float32")
        assert sr == 16000, path
        sig = sig[: len(sig) // 320 * 320][: 30 * 16000]
        ref_mel = fe(sig, padding=0)
        mel = sig_to_whisper_mel(torch.from_numpy(sig))[0].numpy()
        d_mel = float(np.abs(mel - ref_mel).max())
        enc_ref = np.asarray(ct2.encode(ctranslate2.StorageView.from_array(
            np.ascontiguousarray(mel[None]))))
        with torch.no_grad():
            enc = ours(torch.from_numpy(mel[None])).numpy()
        d_enc = float(np.abs(enc - enc_ref).max())
        scale = float(np.abs(enc_ref).max())
        print(f"{path}: mel {mel.shape} max|diff| {d_mel:.2e}; encoder {enc.shape} "
              f"max|diff| {d_enc:.2e} (max|ref| {scale:.2f})")
        worst_mel, worst_enc = max(worst_mel, d_mel), max(worst_enc, d_enc)
    print(f"worst: mel {worst_mel:.2e}, encoder {worst_enc:.2e}")
    return 0 if worst_mel <= 1e-3 and worst_enc <= 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
