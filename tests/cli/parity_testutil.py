"""Small twins of every catalogued checkpoint, with weights that any implementation can rebuild.

A twin keeps everything of its checkpoint's config that sets lengths and rates (front-end
kernels and strides, causality, look-ahead, the compressor's ``downscale_factors`` and the
decompressor's ``upscale_factors``, the codebook, the decoder and its hop) and shrinks only
widths and depths, so the reference and focal can both run it in a fraction of a second.

Weights are a function of each parameter's name and shape only (:func:`fill_parameters`), so
the reference (in ``make_parity_golden.py``) and focal (in the tests) build the same model
without storing any weights. Used by ``test_reference_parity.py`` and ``make_parity_golden.py``.
"""

from __future__ import annotations

import copy
import json
import math
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "model" / "configs"
PARITY_DIR = HERE.parent / "data" / "parity"
#: the two inputs: 8 whole 80 ms chunks (10240 samples), and 10.625 chunks (13600 samples)
LENGTHS = (10240, 13600)
SAMPLE_RATE = 16000


def _downscaled(factors: list[int]) -> dict[str, Any]:
    """The 50 Hz config with the compressor downscaling by ``factors``, mirrored on the way up."""
    config = json.loads((CONFIGS / "50hz_noncausal.json").read_text())
    config["compressor_config"]["downscale_factors"] = list(factors)
    config["decompressor_config"]["upscale_factors"] = list(reversed(factors))
    return config


def catalogue_configs() -> dict[str, dict[str, Any]]:
    """Full-size config of every official checkpoint, by catalogue name.

    The 25 and 12.5 Hz ones are the 50 Hz one with ``downscale_factors`` [1, 1, 2] and
    [1, 2, 2] (``upscale_factors`` [2, 1, 1] and [2, 2, 1]).
    """
    def load(name: str) -> dict[str, Any]:
        return dict(json.loads((CONFIGS / f"{name}.json").read_text()))

    return {
        "focalcodec_50hz_2k_causal": load("50hz_2k_causal"),
        "focalcodec_50hz_4k_causal": load("50hz_4k_causal"),
        "focalcodec_50hz_65k_causal": load("50hz_65k_causal"),
        "focalcodec_50hz": load("50hz_noncausal"),
        "focalcodec_25hz": _downscaled([1, 1, 2]),
        "focalcodec_12_5hz": _downscaled([1, 2, 2]),
    }


def twin_config(config: dict[str, Any]) -> dict[str, Any]:
    """A narrow, shallow copy of ``config`` with the same lengths, rates and codebook."""
    c = copy.deepcopy(config)
    enc, comp = c["encoder_config"], c["compressor_config"]
    decomp, dec = c["decompressor_config"], c["decoder_config"]
    enc.update(hidden_dims=[16] * len(enc["hidden_dims"]), num_layers=1, dim=32, ffn_dim=64,
               num_heads=2, conv_pos=8, conv_pos_groups=4, window_size=16,
               max_cached_steps=64)
    layers = len(comp["hidden_dims"])
    widths = [32, 24, 16][:layers]
    comp.update(input_dim=32, hidden_dims=widths, focal_window=5, focal_factor=2,
                window_size=16)
    decomp.update(output_dim=32, hidden_dims=list(reversed(widths)), focal_window=5,
                  focal_factor=2, window_size=16, last_window_size=16)
    dec.update(input_dim=32, num_layers=1, dim=32, ffn_dim=64)
    return c


def fill_parameters(named_parameters: Any, seed: int = 0) -> None:
    """Overwrite every parameter in place from its name and shape alone.

    Matrices and kernels: N(0, 1 / fan_in); biases: N(0, 0.02^2); other vectors (norm scales,
    Snake and tanh alphas, layer scales): 1 + N(0, 0.05^2). The decoder head is scaled by 0.1
    so the random output stays near [-1, 1]. ``named_parameters``: (name, tensor) pairs.
    """
    import torch

    with torch.no_grad():
        for name, p in named_parameters:
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()) ^ seed)
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if p.dim() >= 2:
                value = noise / math.sqrt(math.prod(p.shape[1:]))
                if name.startswith("decoder.head."):
                    value = value * 0.1
            elif name.endswith("bias"):
                value = noise * 0.02
            else:
                value = 1 + noise * 0.05
            p.copy_(value.to(p.dtype))


def make_signal(num_samples: int) -> Any:
    """A deterministic speech-like float64 signal in [-0.5, 0.5] (no RNG): a gliding
    harmonic tone with a syllable-rate envelope and a little pseudo-noise."""
    import numpy as np

    t = np.arange(num_samples) / SAMPLE_RATE
    f0 = 140 + 40 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    sig = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    noise = ((np.arange(num_samples) * 7919) % 1000 / 1000 - 0.5) * 0.05
    out = 0.2 * env * sig + noise
    return np.clip(out, -0.5, 0.5)
