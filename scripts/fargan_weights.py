"""Convert FARGAN's weights from Opus 1.5.2's ``dnn/fargan_data.c`` into a safetensors file.

Usage: python scripts/fargan_weights.py [FARGAN_DATA_C] [OUT.safetensors]
Defaults: ~/.cache/focal/opus/opus-1.5.2/dnn/fargan_data.c
       -> ~/.cache/focal/fargan/fargan.safetensors

The C file holds each layer as arrays named ``<layer>_{weights_float,weights_int8,scale,bias,
subias}``. Float matrices are stored column-major (input index outer, output index inner). int8
matrices are stored in 8x4 blocks (8 outputs by 4 inputs, blocks ordered output-block outer) and
are applied by Opus to inputs rounded to multiples of 1/127, so the equivalent float weight is
``127 * scale[out] * w[out, in]``. ``subias`` is the bias minus the offset that Opus's
unsigned-input dot products add (``sum_in(weight)``, for inputs offset by +1); it is checked,
then dropped. The GRUs have no bias.

The output holds float32 tensors with ``focalcli.model.fargan.FARGAN``'s state-dict names plus
``int8_layers`` metadata (the layers whose inputs Opus quantises). FARGAN is BSD-3-Clause,
Copyright (c) 2023 Amazon; see docs/fargan.md. Exit codes: 0 ok, 1 bad or missing input.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

# Opus layer name -> (our parameter prefix, number of inputs, number of outputs)
LAYERS: dict[str, tuple[str, int, int]] = {
    "cond_net_pembed": ("cond.pitch_embedding", 224, 12),
    "cond_net_fdense1": ("cond.dense1", 32, 64),
    "cond_net_fconv1": ("cond.conv1", 192, 128),
    "cond_net_fdense2": ("cond.dense2", 128, 320),
    "sig_net_cond_gain_dense": ("sig.gain_dense", 80, 1),
    "sig_net_fwc0_conv": ("sig.fwc0_conv", 328, 192),
    "sig_net_fwc0_glu_gate": ("sig.fwc0_glu.gate", 192, 192),
    "sig_net_gru1_input": ("sig.gru1.input", 272, 480),
    "sig_net_gru1_recurrent": ("sig.gru1.recurrent", 160, 480),
    "sig_net_gru2_input": ("sig.gru2.input", 240, 384),
    "sig_net_gru2_recurrent": ("sig.gru2.recurrent", 128, 384),
    "sig_net_gru3_input": ("sig.gru3.input", 208, 384),
    "sig_net_gru3_recurrent": ("sig.gru3.recurrent", 128, 384),
    "sig_net_gru1_glu_gate": ("sig.gru1_glu.gate", 160, 160),
    "sig_net_gru2_glu_gate": ("sig.gru2_glu.gate", 128, 128),
    "sig_net_gru3_glu_gate": ("sig.gru3_glu.gate", 128, 128),
    "sig_net_skip_glu_gate": ("sig.skip_glu.gate", 128, 128),
    "sig_net_skip_dense": ("sig.skip_dense", 688, 128),
    "sig_net_sig_dense_out": ("sig.sig_dense", 128, 40),
    "sig_net_gain_dense_out": ("sig.pitch_gate_dense", 192, 4),
}

ARRAY_RE = re.compile(
    r"static const (float|opus_int8) (\w+)\[(\d+)\] = \{([^}]*)\};", re.MULTILINE)


def parse_c_arrays(text: str) -> dict[str, np.ndarray]:
    """All ``static const float|opus_int8 name[N] = {...};`` arrays, checked against N."""
    arrays: dict[str, np.ndarray] = {}
    for ctype, name, size, body in ARRAY_RE.findall(text):
        dtype = np.float64 if ctype == "float" else np.int64
        values = np.array([v for v in body.replace("\n", "").split(",") if v.strip()],
                          dtype=dtype)
        if values.size != int(size):
            raise ValueError(f"{name}: {values.size} values, declared {size}")
        arrays[name] = values
    return arrays


def layer_to_tensors(arrays: dict[str, np.ndarray], opus_name: str, n_in: int, n_out: int
                     ) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(weight (n_out, n_in) float32, bias (n_out,) or None, whether Opus quantises its input)."""
    bias = arrays.get(f"{opus_name}_bias")
    if f"{opus_name}_weights_float" in arrays:
        weight = arrays[f"{opus_name}_weights_float"].reshape(n_in, n_out).T
        int8 = False
    else:
        w8 = arrays[f"{opus_name}_weights_int8"]
        scale = arrays[f"{opus_name}_scale"]
        if n_out % 8 or n_in % 4 or w8.size != n_in * n_out or scale.size != n_out:
            raise ValueError(f"{opus_name}: sizes do not fit {n_out}x{n_in} in 8x4 blocks")
        w = w8.reshape(n_out // 8, n_in // 4, 8, 4).transpose(0, 2, 1, 3).reshape(n_out, n_in)
        weight = 127.0 * scale[:, None] * w
        subias = arrays[f"{opus_name}_subias"]
        expected = (0.0 if bias is None else bias) - weight.sum(axis=1)
        if np.abs(subias - expected).max() > 1e-3 * (1.0 + np.abs(subias).max()):
            raise ValueError(f"{opus_name}: subias does not match the int8 weights")
        int8 = True
    if bias is not None and bias.size != n_out:
        raise ValueError(f"{opus_name}: bias has {bias.size} values, expected {n_out}")
    return (weight.astype(np.float32),
            None if bias is None else bias.astype(np.float32), int8)


def convert(c_path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    arrays = parse_c_arrays(c_path.read_text())
    tensors: dict[str, np.ndarray] = {}
    int8_layers: list[str] = []
    for opus_name, (ours, n_in, n_out) in LAYERS.items():
        weight, bias, int8 = layer_to_tensors(arrays, opus_name, n_in, n_out)
        if opus_name == "cond_net_pembed":
            # Opus reads the embedding as rows of the (periods, dim) table and adds no bias.
            tensors[f"{ours}.weight"] = np.ascontiguousarray(weight.T)
            continue
        tensors[f"{ours}.weight"] = np.ascontiguousarray(weight)
        if bias is not None:
            tensors[f"{ours}.bias"] = bias
        if int8:
            int8_layers.append(ours)
    return tensors, int8_layers


def main(argv: list[str]) -> int:
    home = Path.home() / ".cache" / "focal"
    c_path = Path(argv[0]) if argv else home / "opus" / "opus-1.5.2" / "dnn" / "fargan_data.c"
    out = Path(argv[1]) if len(argv) > 1 else home / "fargan" / "fargan.safetensors"
    from safetensors.numpy import save_file
    try:
        tensors, int8_layers = convert(c_path)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {c_path}: {e}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={
        "source": "Opus 1.5.2 dnn/fargan_data.c (FARGAN, Copyright (c) 2023 Amazon)",
        "license": "BSD-3-Clause", "int8_layers": json.dumps(int8_layers)})
    tmp.replace(out)
    n = sum(t.size for t in tensors.values())
    print(f"{out}: {len(tensors)} tensors, {n} parameters, {out.stat().st_size} bytes",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
