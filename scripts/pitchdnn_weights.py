"""Convert PitchDNN's weights from Opus 1.5.2's ``dnn/pitchdnn_data.c`` into a safetensors file.

Usage: python scripts/pitchdnn_weights.py [PITCHDNN_DATA_C] [OUT.safetensors]
Defaults: ~/.cache/focal/opus/opus-1.5.2/dnn/pitchdnn_data.c
       -> ~/.cache/focal/lpcnet/pitchdnn.safetensors

PitchDNN (the pitch estimator of LPCNet's feature analysis) has six int8 matrices (the two IF
dense layers, the downsampler, both GRU halves, the final upsampler) and two float 3x3 conv2d
layers. The int8 matrices are kept as int8 values (stored as float32 integers, shape (out, in),
un-blocked from Opus's 8x4 layout) with their per-output ``scale``, ``bias`` and ``subias`` (the
bias Opus adds after its unsigned-input dot product), so that
``focalcli.model.lpcnet_analysis.PitchDNN`` can repeat Opus's integer arithmetic exactly. The
conv2d weights are (out, in, time, height) as Opus stores them, oldest frame first.

The conversion also checks whether an AVX2 ``maddubs`` pair sum (two uint8 inputs <= 254 times two
int8 weights) can saturate int16; if it can, Opus's result could differ from the exact sum, and
the script says so (``saturation_possible`` metadata). The weights are part of Opus, under its
BSD-3-Clause licence (``COPYING``: "Copyright 2001-2023 Xiph.Org, ..., Mozilla, Amazon"); see
docs/fargan.md. Exit codes: 0 ok, 1 bad or missing input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fargan_weights import parse_c_arrays  # noqa: E402

# Opus layer name -> (our parameter prefix, number of inputs, number of outputs)
INT8_LAYERS: dict[str, tuple[str, int, int]] = {
    "dense_if_upsampler_1": ("if_dense1", 88, 64),
    "dense_if_upsampler_2": ("if_dense2", 64, 64),
    "dense_downsampler": ("downsampler", 288, 64),
    "dense_final_upsampler": ("final", 64, 192),
    "gru_1_input": ("gru_input", 64, 192),
    "gru_1_recurrent": ("gru_recurrent", 64, 192),
}
# Opus conv2d name -> (our prefix, in channels, out channels, ktime, kheight)
CONV_LAYERS: dict[str, tuple[str, int, int, int, int]] = {
    "conv2d_1": ("conv1", 1, 4, 3, 3),
    "conv2d_2": ("conv2", 4, 1, 3, 3),
}


def unblock_int8(w8: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Opus's 8x4-blocked int8 matrix (output blocks outer, then input blocks) -> (n_out, n_in)."""
    if n_out % 8 or n_in % 4 or w8.size != n_in * n_out:
        raise ValueError(f"sizes do not fit {n_out}x{n_in} in 8x4 blocks")
    return w8.reshape(n_out // 8, n_in // 4, 8, 4).transpose(0, 2, 1, 3).reshape(n_out, n_in)


def pair_saturation_possible(w: np.ndarray) -> bool:
    """Whether 254 * (w[2k] + w[2k+1]) (same-sign pair) can leave int16 for some row and pair."""
    pairs = w.reshape(w.shape[0], -1, 2)
    same = np.sign(pairs[..., 0]) == np.sign(pairs[..., 1])
    return bool((same & (254 * np.abs(pairs).sum(-1) > 32767)).any())


def convert(c_path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """(state dict for PitchDNN, names of the int8 layers whose pair sums could saturate)."""
    arrays = parse_c_arrays(c_path.read_text())
    tensors: dict[str, np.ndarray] = {}
    saturating: list[str] = []
    for opus_name, (ours, n_in, n_out) in INT8_LAYERS.items():
        w = unblock_int8(arrays[f"{opus_name}_weights_int8"], n_in, n_out)
        if np.abs(w).max() > 127:
            raise ValueError(f"{opus_name}: int8 weight out of range")
        for part in ("scale", "bias", "subias"):
            v = arrays[f"{opus_name}_{part}"]
            if v.size != n_out:
                raise ValueError(f"{opus_name}_{part}: {v.size} values, expected {n_out}")
            tensors[f"{ours}.{part}"] = v.astype(np.float32)
        # subias = bias - 127 * scale * sum_in(w): the +127 offset of Opus's unsigned inputs.
        expected = arrays[f"{opus_name}_bias"] - 127.0 * arrays[f"{opus_name}_scale"] * w.sum(1)
        sub = arrays[f"{opus_name}_subias"]
        if np.abs(sub - expected).max() > 1e-3 * (1.0 + np.abs(sub).max()):
            raise ValueError(f"{opus_name}: subias does not match the int8 weights")
        tensors[f"{ours}.weight_int8"] = w.astype(np.float32)
        if pair_saturation_possible(w):
            saturating.append(ours)
    for opus_name, (ours, c_in, c_out, kt, kh) in CONV_LAYERS.items():
        w = arrays[f"{opus_name}_weight_float"]
        b = arrays[f"{opus_name}_bias"]
        if w.size != c_out * c_in * kt * kh or b.size != c_out:
            raise ValueError(f"{opus_name}: unexpected sizes {w.size}, {b.size}")
        tensors[f"{ours}.weight"] = w.reshape(c_out, c_in, kt, kh).astype(np.float32)
        tensors[f"{ours}.bias"] = b.astype(np.float32)
    return tensors, saturating


def main(argv: list[str]) -> int:
    home = Path.home() / ".cache" / "focal"
    c_path = Path(argv[0]) if argv else home / "opus" / "opus-1.5.2" / "dnn" / "pitchdnn_data.c"
    out = Path(argv[1]) if len(argv) > 1 else home / "lpcnet" / "pitchdnn.safetensors"
    from safetensors.numpy import save_file
    try:
        tensors, saturating = convert(c_path)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {c_path}: {e}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={
        "source": "Opus 1.5.2 dnn/pitchdnn_data.c (PitchDNN; Opus COPYING: Copyright "
                  "2001-2023 Xiph.Org et al.)",
        "license": "BSD-3-Clause", "saturation_possible": json.dumps(saturating)})
    tmp.replace(out)
    n = sum(t.size for t in tensors.values())
    print(f"{out}: {len(tensors)} tensors, {n} parameters, {out.stat().st_size} bytes"
          + (f"; int16 pair saturation possible in {saturating}" if saturating else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
