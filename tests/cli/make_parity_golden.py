"""Write the reference's outputs for the twins of every checkpoint into ``tests/data/parity/``.

    python tests/cli/make_parity_golden.py /path/to/focalcodec-checkout

The argument is a checkout of the reference implementation (lucadellalib/focalcodec; the folder
holding its ``focalcodec`` package). Nothing of it is copied: the script only runs it. For each
twin (``parity_testutil.twin_config``, weights from ``fill_parameters``) and each input length
it stores what the reference gives:

* non-causal: ``sig_to_toks`` of the whole signal, then ``toks_to_sig`` with the reference's
  ``output_length = int(n * sr_out / sr_in)`` (cut, or padded by repeating the last sample);
* causal: the stream of 80 ms chunks (the last one zero-padded, state carried), decoded
  chunk by chunk, cut to the same ``output_length``; the offline pass over the padded signal
  is checked to give the same tokens.

Also ``input.wav`` (16-bit PCM; the reference reads exactly the samples focal reads) and
``meta.json``. Run with OMP_NUM_THREADS=1; it takes about a minute. With ``--full`` it does the
same for the full-size checkpoints (configs as released, the same weight rule) into
``parity/full/`` (several minutes and about 3 GB of memory), for the opt-in full-size test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_testutil import (  # noqa: E402
    LENGTHS,
    PARITY_DIR,
    SAMPLE_RATE,
    catalogue_configs,
    fill_parameters,
    make_signal,
    twin_config,
)


@torch.inference_mode()
def reference_outputs(ref: torch.nn.Module, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tokens (1, k) int64, audio (1, m) float32) as the reference gives them."""
    x = torch.from_numpy(sig.astype(np.float32))[None]
    n = x.shape[1]
    output_length = int(n * (ref.sample_rate_output / ref.sample_rate_input))
    if not ref.causal:
        toks = ref.sig_to_toks(x)
        audio = ref.toks_to_sig(toks, output_length=output_length)
        return toks.numpy(), audio.numpy()
    chunk = ref.chunk_size
    padded = torch.nn.functional.pad(x, (0, -n % chunk))
    enc_state: tuple = ()
    comp_state: tuple = ()
    toks_parts = []
    for start in range(0, padded.shape[1], chunk):
        toks_i, enc_state, comp_state = ref.sig_to_toks(
            padded[:, start : start + chunk], enc_state, comp_state, return_state=True)
        toks_parts.append(toks_i)
    toks = torch.cat(toks_parts, dim=1)
    offline = ref.sig_to_toks(padded)
    assert torch.equal(offline, toks), "reference: offline and streaming tokens differ"
    group = toks_parts[0].shape[1]
    dec_state: tuple = ()
    decomp_state: tuple = ()
    audio_parts = []
    for start in range(0, toks.shape[1], group):
        sig_i, decomp_state, dec_state = ref.toks_to_sig(
            toks[:, start : start + group], decomp_state, dec_state, return_state=True)
        audio_parts.append(sig_i)
    audio = torch.cat(audio_parts, dim=1)[:, :output_length]
    return toks.numpy(), audio.numpy()


def main(reference_root: str, full: bool = False) -> None:
    torch.set_num_threads(1)
    sys.path.insert(0, reference_root)
    from focalcodec import FocalCodec as Reference  # the reference implementation

    from focalcli.model.codec import FocalCodec

    out_dir = PARITY_DIR / "full" if full else PARITY_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = PARITY_DIR / "input.wav"
    sf.write(wav, make_signal(max(LENGTHS)), SAMPLE_RATE, subtype="PCM_16")
    signal, _ = sf.read(wav, dtype="float32")
    import focalcodec

    commit = subprocess.run(["git", "-C", reference_root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    commit = commit or os.environ.get("REFERENCE_COMMIT", "unknown commit")
    meta: dict = {"reference": f"lucadellalib/focalcodec {commit} (v{focalcodec.__version__})",
                  "torch": torch.__version__,
                  "lengths": list(LENGTHS), "models": {}}
    for name, config in catalogue_configs().items():
        twin = config if full else twin_config(config)
        ref = Reference(**twin).eval()
        fill_parameters(ref.named_parameters())
        # the reference caches the attention position bias and refreshes it on loading
        ref.load_state_dict(ref.state_dict())
        ours = FocalCodec(twin)
        fill_parameters(ours.named_parameters())
        ref_sd, our_sd = ref.state_dict(), ours.state_dict()
        assert ref_sd.keys() == our_sd.keys()
        for key, value in ref_sd.items():
            assert torch.equal(value, our_sd[key]), f"{name}: {key} differs"
        del ours, our_sd
        if not full:
            (out_dir / f"{name}.json").write_text(json.dumps(twin, indent=1) + "\n")
        arrays = {}
        entry = {}
        for n in LENGTHS:
            toks, audio = reference_outputs(ref, signal[:n])
            arrays[f"tokens_{n}"] = toks.astype(np.int64)
            arrays[f"audio_{n}"] = audio.astype(np.float32)
            entry[str(n)] = {"tokens": int(toks.shape[1]), "samples": int(audio.shape[1]),
                             "peak": round(float(np.abs(audio).max()), 4)}
        np.savez_compressed(out_dir / f"{name}.npz", **arrays)
        meta["models"][name] = {"sample_rate_output": int(ref.sample_rate_output),
                                "causal": bool(ref.causal), **entry}
        print(name, entry, flush=True)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--full"]
    if len(args) != 1:
        sys.exit(__doc__)
    main(args[0], full="--full" in sys.argv)
