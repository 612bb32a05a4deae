"""Export a feature-ladder probe run as a loadable model folder (config.json, model.safetensors,
MODEL_CARD.md): LPCNet analysis -> the probe's learned ladder -> FARGAN, as one FocalCodec.

    python -m focalcli.train.fargan_export --run NAME --out DIR [--name NAME]
        [--chunk-tokens N] [--fargan PATH] [--pitchdnn PATH]

Reads the probe checkpoint ``~/.cache/focal/runs/NAME/last.pt`` (``codec``: the
``FeatureLadderCodec`` or ``PitchLadderCodec`` state dict; ``delay_tokens``, ``dim``,
``gru_dim``, ``pitch_bits``, ``corr_bits``, ``hybrid``), FARGAN's weights
(``~/.cache/focal/fargan/fargan.safetensors``, from ``scripts/fargan_weights.py``) and
PitchDNN's (from ``scripts/pitchdnn_weights.py``). The probe's encoder becomes the
compressor, its decoder the decompressor (both with the probe's ``mean`` / ``std``), and the
exported compressor and decompressor are checked against the probe on random features before
anything is written. A hybrid run (``HybridLadderCodec``) becomes a ``focalcli.model.hybrid``
model on ``--base`` (default focal-small, referenced by name). The folder loads with
``focal ... --model DIR``; nothing is added to ``focalcli/bundled``. Exit codes: 0 written,
1 a missing or unfitting input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from focalcli.model.geometry import FEATURE_TOKEN_DIM, LPCNET_DEFAULT_CHUNK_FRAMES
from focalcli.settings import read_environment

CACHE = read_environment().cache_dir
RUNS = CACHE / "runs"
FARGAN_WEIGHTS = CACHE / "fargan" / "fargan.safetensors"
PITCHDNN_WEIGHTS = CACHE / "lpcnet" / "pitchdnn.safetensors"
#: bits per group and groups of the probe's quantiser (FeatureLadderCodec's defaults)
BITS, GROUPS = 12, 4

#: Opus 1.5.2's COPYING, which covers the FARGAN and PitchDNN weights (docs/fargan.md)
OPUS_COPYING = """\
Copyright 2001-2023 Xiph.Org, Skype Limited, Octasic,
                    Jean-Marc Valin, Timothy B. Terriberry,
                    CSIRO, Gregory Maxwell, Mark Borgerding,
                    Erik de Castro Lopo, Mozilla, Amazon

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions
are met:

- Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer.

- Redistributions in binary form must reproduce the above copyright
notice, this list of conditions and the following disclaimer in the
documentation and/or other materials provided with the distribution.

- Neither the name of Internet Society, IETF or IETF Trust, nor the
names of specific contributors, may be used to endorse or promote
products derived from this software without specific prior written
permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
``AS IS'' AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER
OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR
PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF
LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

Opus is subject to the royalty-free patent licenses which are
specified at:

Xiph.Org Foundation:
https://datatracker.ietf.org/ipr/1524/

Microsoft Corporation:
https://datatracker.ietf.org/ipr/1914/

Broadcom Corporation:
https://datatracker.ietf.org/ipr/1526/
"""


class ExportError(Exception):
    """A missing input or one that does not fit, reported as one line."""


def feature_config(probe: dict[str, Any], delay_tokens: int, chunk_tokens: int,
                   scalars: list[list[float]] | None = None) -> dict[str, Any]:
    """The FocalCodec config of a probe state dict (widths read from its weights); ``scalars``:
    a ``PitchLadderCodec``'s scalar fields (``[index, lo, hi, bits]``), which take the first
    bits of group 0 (the compressor's block makes the other latents, and the decompressor's
    block reads one dequantised value per field besides the codes)."""
    scalars = scalars or []

    def block(prefix: str) -> dict[str, int]:
        return {"input_dim": int(probe[f"{prefix}.in_proj.weight"].shape[1]),
                "output_dim": int(probe[f"{prefix}.out.weight"].shape[0]),
                "dim": int(probe[f"{prefix}.in_proj.weight"].shape[0]),
                "gru_dim": int(probe[f"{prefix}.gru.weight_hh_l0"].shape[1]),
                "kernel": int(probe[f"{prefix}.conv.weight"].shape[2])}

    return {
        "encoder_name": "LPCNetEncoder",
        "encoder_config": {"chunk_frames": chunk_tokens},
        "compressor_name": "FeatureCompressor",
        "compressor_config": {**block("encoder"), "output_dim": BITS * GROUPS,
                              **({"group_dim": BITS, "scalars": scalars} if scalars else {})},
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": 2**BITS, "num_groups": GROUPS},
        "decompressor_name": "FeatureDecompressor",
        "decompressor_config": {**block("decoder"), "delay_tokens": delay_tokens,
                                "input_dim": BITS * GROUPS,
                                **({"scalars": scalars} if scalars else {})},
        "decoder_name": "FARGANDecoder",
        "decoder_config": {"fargan_config": {}, "skip_tokens": delay_tokens},
    }


def codec_state(probe: dict[str, Any], fargan: dict[str, Any], pitchdnn: dict[str, Any]
                ) -> dict[str, Any]:
    """The FocalCodec state dict: the probe's encoder -> compressor.block, decoder ->
    decompressor.block, mean / std to both; FARGAN -> decoder.fargan; PitchDNN ->
    encoder.analysis.pitchdnn."""
    out: dict[str, Any] = {}
    for key, value in probe.items():
        role, _, rest = key.partition(".")
        if role == "encoder":
            out[f"compressor.block.{rest}"] = value
        elif role == "decoder":
            out[f"decompressor.block.{rest}"] = value
        elif key in ("mean", "std"):
            out[f"compressor.{key}"] = value
            out[f"decompressor.{key}"] = value.clone()
        elif role != "bsq":
            raise ExportError(f"unexpected probe weight {key!r}")
    out.update({f"decoder.fargan.{k}": v for k, v in fargan.items()})
    out.update({f"encoder.analysis.pitchdnn.{k}": v for k, v in pitchdnn.items()})
    return out


def hybrid_config(probe: dict[str, Any], base: dict[str, Any], delay_tokens: int,
                  scalars: list[list[float]]) -> dict[str, Any]:
    """The FocalCodec config of a hybrid probe run (``HybridLadderCodec``) on the base model's
    config ``base`` (a WavLM / FocalEncoder / FocalDecoder / Vocos model of one 12-bit group):
    the base's roles keep their configs inside the hybrid's, the probe's blocks become the
    feature compressor (LPCNet values and group 0's codes in) and decompressor, and the scalar
    fields lead group 1."""
    from focalcli.model.hybrid import BASE_NAMES

    if any(base.get(f"{role}_name") != name for role, name in BASE_NAMES.items()):
        raise ExportError("the base model must be a WavLM / FocalEncoder / FocalDecoder / "
                          "Vocos codec")
    quantizer = base.get("quantizer_config") or {}
    if int(quantizer.get("codebook_size", 0)) != 2**BITS or int(quantizer.get("num_groups",
                                                                               1)) != 1:
        raise ExportError(f"the base model must have one group of {BITS} bits")
    flat = feature_config(probe, delay_tokens, 1, scalars)
    comp = {**flat["compressor_config"], "output_dim": BITS * (GROUPS - 1)}
    return {
        "encoder_name": "HybridEncoder",
        "encoder_config": {"wavlm_config": base["encoder_config"]},
        "compressor_name": "HybridCompressor",
        "compressor_config": {"focal_config": base["compressor_config"],
                              "feature_config": comp},
        "quantizer_name": "BinarySphericalQuantizer",
        "quantizer_config": {"codebook_size": 2**BITS, "num_groups": GROUPS},
        "decompressor_name": "HybridDecompressor",
        "decompressor_config": {"focal_config": base["decompressor_config"],
                                "feature_config": flat["decompressor_config"]},
        "decoder_name": "HybridDecoder",
        "decoder_config": {"vocos_config": base["decoder_config"], "fargan_config": {},
                           "skip_tokens": delay_tokens},
    }


def hybrid_state(probe: dict[str, Any], base: dict[str, Any], fargan: dict[str, Any],
                 pitchdnn: dict[str, Any]) -> dict[str, Any]:
    """The hybrid FocalCodec's state dict: the base model's roles under ``encoder.wavlm``,
    ``compressor.focal``, ``decompressor.focal`` and ``decoder.vocos``; the probe's blocks as
    in ``codec_state`` one level down (``compressor.feature``, ``decompressor.feature``), the
    compressor standardising group 0's codes to +-1; FARGAN and PitchDNN."""
    import torch

    flat = codec_state(probe, fargan, pitchdnn)
    out: dict[str, Any] = {}
    for key, value in flat.items():
        role, _, rest = key.partition(".")
        if role in ("compressor", "decompressor"):
            out[f"{role}.feature.{rest}"] = value
        elif role == "decoder":
            out[f"decoder.fargan.{rest}"] = value
        else:
            out[f"encoder.lpcnet.{rest}"] = value
    from focalcli.model.hybrid import base_state_in_hybrid

    codes_std = torch.full((BITS,), BITS**-0.5)
    out["compressor.feature.mean"] = torch.cat([probe["mean"], torch.zeros(BITS)])
    out["compressor.feature.std"] = torch.cat([probe["std"], codes_std])
    return {**out, **base_state_in_hybrid(base)}


def probe_state_from_hybrid(tensors: dict[str, Any]) -> dict[str, Any]:
    """A hybrid model's state dict -> the ``HybridLadderCodec`` probe state it was exported from
    (the inverse of ``hybrid_state`` for the trained blocks, ``bsq`` left to the probe):
    ``compressor.feature.block`` -> ``encoder``, ``decompressor.feature.block`` -> ``decoder``,
    the LPCNet values' mean / std (the compressor's first 40) -> ``mean`` / ``std``."""
    out: dict[str, Any] = {}
    for key, value in tensors.items():
        for role, prefix in (("encoder", "compressor.feature.block."),
                             ("decoder", "decompressor.feature.block.")):
            if key.startswith(prefix):
                out[f"{role}.{key[len(prefix):]}"] = value
    for key in ("mean", "std"):
        full = tensors.get(f"compressor.feature.{key}")
        if full is None:
            raise ExportError(f"not a hybrid model: no compressor.feature.{key}")
        out[key] = full[:FEATURE_TOKEN_DIM].clone()
    return out


def check_hybrid_against_probe(codec: Any, probe: Any, frames: int = 60, seed: int = 0
                               ) -> None:
    """The exported hybrid gives the probe's codes (groups 1..) and features (rungs 2 and 4)
    for random base features and LPCNet features, and the base model's group-0 codes."""
    import torch

    g = torch.Generator().manual_seed(seed)
    base_dim = int(codec.config["compressor_config"]["focal_config"]["input_dim"])
    feats = probe.mean + probe.std * torch.randn(1, frames, FEATURE_TOKEN_DIM, generator=g)
    base_feats = torch.randn(1, frames, base_dim, generator=g)
    with torch.inference_mode():
        lats, _ = codec.feats_to_lats(torch.cat([base_feats, feats], dim=-1))
        got = codec.lats_to_codes(lats)
        want = probe.bsq.lats_to_codes(probe.encode(torch.cat([feats, got[..., :BITS]], -1)))
        if not torch.equal(got, want):
            raise ExportError("the exported compressor does not give the probe's codes")
        for g_ in probe.rungs:
            y = probe.to_features(probe.decode(want[..., : g_ * BITS]))
            q, _ = codec.codes_to_qfeats(want[..., : g_ * BITS])
            q = q[..., -2 - FEATURE_TOKEN_DIM : -2]
            if not torch.allclose(q.reshape(y.shape), y, atol=1e-5, rtol=0):
                raise ExportError("the exported decompressor does not give the probe's features")


def _read_safetensors(path: Path, what: str, script: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ExportError(f"{path} missing: run {script} ({what})")
    return dict(load_file(str(path)))


def check_against_probe(codec: Any, probe: Any, frames: int = 60, seed: int = 0) -> None:
    """The exported compressor and decompressor give the probe's codes and features on random
    features (raw units, around the probe's mean), at every rung."""
    import torch

    g = torch.Generator().manual_seed(seed)
    feats = probe.mean + probe.std * torch.randn(1, frames, FEATURE_TOKEN_DIM, generator=g)
    with torch.inference_mode():
        want = probe.bsq.lats_to_codes(probe.encode(feats))
        lats, _ = codec.feats_to_lats(feats)
        got = codec.lats_to_codes(lats)
        if not torch.equal(got, want):
            raise ExportError("the exported compressor does not give the probe's codes")
        for g_ in (1, 2, GROUPS):
            y = probe.to_features(probe.decode(want[..., : g_ * BITS]))
            q, _ = codec.codes_to_qfeats(want[..., : g_ * BITS])
            if not torch.allclose(q.reshape(y.shape), y, atol=1e-5, rtol=0):
                raise ExportError("the exported decompressor does not give the probe's features")


def _probe_options(ck: dict[str, Any]) -> str:
    """The probe options a checkpoint records, beyond the run and the delay."""
    opts = [f" --dim {int(ck['dim'])} --gru-dim {int(ck['gru_dim'])}"]
    if int(ck.get("steps", 0)):
        opts.append(f" --steps {int(ck['steps'])}")
    if int(ck.get("pitch_bits", 0)):
        opts.append(f" --pitch-bits {int(ck['pitch_bits'])}")
        if int(ck.get("corr_bits", 0)):
            opts.append(f" --corr-bits {int(ck['corr_bits'])}")
    if float(ck.get("voiced_pitch_weight", 0.0)):
        opts.append(f" --voiced-pitch-weight {float(ck['voiced_pitch_weight']):g}")
    if ck.get("speeds"):
        opts.append(" --speeds " + ",".join(f"{float(v):g}" for v in ck["speeds"]))
    if ck.get("copies"):
        opts.append(" --copies " + ",".join(str(c) for c in ck["copies"]))
    if ck.get("hybrid"):
        opts.append(" --hybrid")
    if ck.get("init"):
        opts.append(f" --init {ck['init']}")
    if float(ck.get("lr", 1e-3)) != 1e-3:
        opts.append(f" --lr {float(ck['lr']):g}")
    return "".join(opts)


def _card(name: str, run: str, ck: dict[str, Any], codec: Any, dev: list[float] | None,
          base: str | None = None) -> str:
    """The model card; ``base``: a hybrid's base model name."""
    params = codec.num_parameters()
    total = sum(params.values())
    D = codec.decompressor.delay_tokens
    comp, decomp = codec.config["compressor_config"], codec.config["decompressor_config"]
    if base:
        comp, decomp = comp["feature_config"], decomp["feature_config"]
    hybrid = [
        f"- Hybrid ladder on `{base}`: group 0 is `{base}`'s own token (its encoder, "
        "FocalEncoder and quantiser, unchanged), decoded by its own FocalDecoder and Vocos, so "
        f"the 1-group rung sounds as `{base}` (delayed to this model's latency). Groups 1.. "
        "come from the feature compressor below, which reads the token's LPCNet features and "
        "group 0's codes; with 2 or more groups the feature decompressor and FARGAN speak, "
        f"after {codec.decompressor.warmup_tokens} tokens with them in a row, faded over one "
        "token either way. Licence of the base weights: as its own card.",
    ] if base else []
    scalar_group = 1 if base else 0
    rungs = ", ".join(f"{g} group{'s' if g > 1 else ''} = {g * codec.bits_per_group} bits/frame "
                      f"= {codec.rung_bitrate_kbps(g):g} kbit/s" for g in codec.rung_groups)
    lines = [
        f"# {name}",
        "",
        "Licence: CC-BY-4.0 (our trained weights: compressor, decompressor; trained on CC BY 4.0 "
        "/ ODbL 1.0 speech, attributions below) + BSD-3-Clause (FARGAN and PitchDNN weights, "
        "from Opus 1.5.2; notice below)",
        "",
        "A causal speech codec for the `focal` command-line tool: a learned bitrate ladder over "
        "the LPCNet features that Opus's FARGAN vocoder speaks from.",
        "",
        "## Architecture",
        "",
        f"- Input 16 kHz mono, {codec.token_rate:g} frames/s of {codec.num_groups} nested "
        f"{codec.bits_per_group}-bit tokens (binary codebooks of {codec.codebook_size} "
        f"entries, one per group); bitrate rungs of {rungs}; output "
        f"{codec.sample_rate_output} Hz.",
        f"- Causal everywhere; chunk {codec.chunk_size} samples ({codec.chunk_tokens} "
        f"token{'' if codec.chunk_tokens == 1 else 's'}). "
        f"Algorithmic latency {codec.latency_ms:g} ms = chunk {1000 * codec.chunk_size / 16000:g}"
        f" ms + decoder delay {D} token{'' if D == 1 else 's'} ({20 * D} ms) + output lag "
        f"{codec.decoder.delay_samples} samples ({codec.decoder.delay_samples / 16:g} ms: the "
        "analysed frame's audio against FARGAN's output of it, measured on dev speech).",
        ("- Encoder: the base model's, and beside it the LPCNet feature analysis (Opus 1.5's"
         if base else "- Encoder: LPCNet feature analysis (Opus 1.5's")
        + ": 18 Bark-band cepstral coefficients, "
        "pitch from PitchDNN, pitch correlation per 10 ms frame), two frames per 20 ms token "
        "(40 values).",
        f"- Compressor: standardisation, then a causal block (linear {comp['input_dim']} -> "
        f"{comp['dim']}, GELU, causal convolution over {comp['kernel']} tokens, GRU "
        f"{comp['gru_dim']}, linear -> {comp['output_dim']} latents); quantiser: binary "
        f"spherical quantiser, {codec.num_groups} groups of {codec.bits_per_group} dims, each "
        "normalised and quantised on its own; a decoder sent fewer groups gets zero codes for "
        "the rest.",
        *hybrid,
        *([f"- Scalar fields at the start of group {scalar_group} (feature index, range, "
           "bits; the mean of a token's two frames, uniformly quantised): "
           + "; ".join(f"{int(i)} [{lo:g}, {hi:g}] {int(b)} bit{'s' if int(b) != 1 else ''}"
                       for i, lo, hi, b in comp["scalars"])
           + ". The decompressor predicts those features as residuals on them."]
          if comp.get("scalars") else []),
        f"- Decompressor: the same block ({decomp['input_dim']} codes -> {decomp['dim']}, GRU "
        f"{decomp['gru_dim']}, -> {decomp['output_dim']} standardised features, mapped back to "
        f"LPCNet units); output token t describes input token t - {D}.",
        "- Decoder: FARGAN (Opus 1.5, 818,205 parameters), 160 samples per 10 ms frame. A "
        f"stream's first {D} tokens and the next 5 frames (FARGAN's priming) decode to "
        f"silence ({(2 * D + 5) * 10} ms), so T tokens always give T x 320 samples and a "
        "stream decodes the same in any chunking.",
        f"- Parameters: {total:,} ({total * 4 / 2**20:.1f} MiB stored as float32): "
        + ", ".join(f"{k} {v:,}" for k, v in params.items()) + ".",
        "",
        "## Training",
        "",
        f"- `python -m focalcli.train.feature_ladder_probe train --run {run} "
        f"--delay-tokens {D}{_probe_options(ck)}` ({int(ck.get('step', 0)):,} steps"
        + (f", starting from the trained weights of `{ck['init']}`," if ck.get("init") else "")
        + " of the probe's default 16 x 3 s crops of cached LPCNet features from Opus's "
        "`dump_data`"
        + (", drawn from the training split and its copies played at speeds "
           + ", ".join(f"{float(v):g}" for v in ck["speeds"]) if ck.get("speeds") else "")
        + (", and from the caches " + ", ".join(f"`{c}`" for c in ck["copies"])
           + " (`vocoder_probe cache --tilt` / `--folder`)" if ck.get("copies") else "")
        + "): "
        "the compressor, quantiser and decompressor trained on every rung ("
        + ("2 and 4 groups; group 0 is the base model's, fixed" if base else "1, 2 and 4 groups")
        + ") of each batch, a weighted feature regression (cepstrum half by variance, "
        "half standardised, pitch x4); no vocoder in the loop. FARGAN and PitchDNN are "
        "Opus's, unchanged.",
        f"- Exported with `python -m focalcli.train.fargan_export --run {run}`.",
    ]
    if dev is not None:
        lines.append("- Dev feature error (weighted MSE of standardised features, the training "
                     "loss) per rung: " + ", ".join(
                         f"{g} group{'s' if g > 1 else ''} {v:.3f}"
                         for g, v in zip((2, GROUPS) if base else (1, 2, GROUPS), dev,
                                         strict=True)) + ".")
    lines += [
        "",
        "## Data and attributions",
        "",
        "- LibriSpeech ASR corpus (Panayotov, Chen, Povey, Khudanpur, 2015), sample of "
        "train-clean-100, CC BY 4.0.",
        "- MS-SNSD clean speech (Microsoft Scalable Noisy Speech Dataset), containing PTDB-TUG "
        "(ODbL 1.0) and a VCTK subset (CC BY 4.0).",
        "- CSTR VCTK Corpus (Yamagishi, Veaux, MacDonald, 2019), speakers p225, p227, p228, "
        "p232, CC BY 4.0.",
        "",
        "## FARGAN and PitchDNN weights (Opus 1.5.2, BSD-3-Clause)",
        "",
        "The decoder's FARGAN weights (`decoder.fargan.*`, converted from Opus 1.5.2's "
        "`dnn/fargan_data.c`) and the encoder's PitchDNN weights "
        "(`encoder.analysis.pitchdnn.*`, from `dnn/pitchdnn_data.c`) are part of Opus "
        "(FARGAN: Jean-Marc Valin, Copyright (c) 2023 Amazon), distributed under Opus's "
        "BSD-3-Clause licence. The code that runs them is focal's own (docs/fargan.md). "
        "Opus's `COPYING`:",
        "",
        "```",
        OPUS_COPYING.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def dev_error(probe: Any) -> list[float] | None:
    """Per-rung dev weighted MSE if the cached dev features are there, else None."""
    from focalcli.train.feature_ladder_probe import evaluate, feature_weights
    from focalcli.train.vocoder_probe import ProbeError, load_split

    try:
        dev = load_split("dev")
    except ProbeError:
        return None
    return evaluate(probe, dev, feature_weights(probe.std))[0]


def export(run: str, out: Path, name: str | None = None,
           chunk_tokens: int = LPCNET_DEFAULT_CHUNK_FRAMES, fargan_path: Path = FARGAN_WEIGHTS,
           pitchdnn_path: Path = PITCHDNN_WEIGHTS, base: str = "focal-small") -> Path:
    """Write the model folder ``out`` (created; files replaced); returns it. A hybrid run
    (``--hybrid``) is built on the model ``base`` (any ``--model`` source; its chunking, not
    ``chunk_tokens``, sets the hybrid's). A bundled base is referenced (config
    ``base_model``; the loader adds its weights, which never change under its name), any
    other is copied into the folder."""
    import torch
    from safetensors.torch import save_file

    from focalcli.model.codec import FocalCodec
    from focalcli.model.registry import bundled_names
    from focalcli.train.feature_ladder_probe import (
        FeatureLadderCodec,
        HybridLadderCodec,
        PitchLadderCodec,
    )

    torch.set_num_threads(1)
    path = RUNS / run / "last.pt"
    if not path.is_file():
        raise ExportError(f"{path} missing: train the probe run {run!r} first")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    delay = int(ck["delay_tokens"])
    pitch_bits, corr_bits = int(ck.get("pitch_bits", 0)), int(ck.get("corr_bits", 0))
    hybrid = bool(ck.get("hybrid", False))
    probe: FeatureLadderCodec
    if hybrid:
        probe = HybridLadderCodec(int(ck["dim"]), int(ck["gru_dim"]), BITS, GROUPS, delay,
                                  pitch_bits, corr_bits)
        scalars = probe.scalar_spec(pitch_bits, corr_bits)
    elif pitch_bits:
        probe = PitchLadderCodec(int(ck["dim"]), int(ck["gru_dim"]), BITS, GROUPS, delay,
                                 pitch_bits, corr_bits)
        scalars = probe.scalar_spec(pitch_bits, corr_bits)
    else:
        probe = FeatureLadderCodec(int(ck["dim"]), int(ck["gru_dim"]), BITS, GROUPS, delay)
        scalars = []
    probe.load_state_dict(ck["codec"])
    probe.eval()
    fargan = _read_safetensors(fargan_path, "FARGAN weights", "scripts/fargan_weights.py")
    pitchdnn = _read_safetensors(pitchdnn_path, "PitchDNN weights", "scripts/pitchdnn_weights.py")
    base_name = ""
    if hybrid:
        base_config, base_state, base_name = _base_model(base)
        config = hybrid_config(ck["codec"], base_config, delay, scalars)
        state = hybrid_state(ck["codec"], base_state, fargan, pitchdnn)
    else:
        config = feature_config(ck["codec"], delay, chunk_tokens, scalars)
        state = codec_state(ck["codec"], fargan, pitchdnn)
    try:
        codec = FocalCodec(config)
    except ValueError as e:
        raise ExportError(f"the model does not build: {e}") from None
    try:
        codec.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ExportError(f"the weights do not fit the model: {str(e).splitlines()[0]}") from None
    codec.eval()
    if hybrid:
        check_hybrid_against_probe(codec, probe)
    else:
        check_against_probe(codec, probe)
    name = name or out.name
    tensors = codec.state_dict()
    if hybrid and base_name in bundled_names():
        from focalcli.model.hybrid import BASE_ROLES

        config = {"base_model": base_name, **config}
        inner = tuple(prefix for prefix, _ in BASE_ROLES.values())
        tensors = {k: v for k, v in tensors.items() if not k.startswith(inner)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tmp = out / ".model.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.chmod(0o644)  # safetensors writes 0600; a model folder is for sharing
    tmp.replace(out / "model.safetensors")
    card = _card(name, run, ck, codec, dev_error(probe),
                 base_name if hybrid else None)
    (out / "MODEL_CARD.md").write_text(card)
    return out


def read_model(source: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Any ``--model`` source -> (its config, the tensors of its own weights file, its name);
    ``ModelLoadError`` when it cannot be read."""
    from focalcli.model.loading import ModelLoadError, load_state_dict, read_config, resolve

    name, config_path, weights_path = resolve(source)
    if weights_path is None:
        raise ModelLoadError(f"{config_path}: no weights beside it")
    return read_config(config_path), load_state_dict(weights_path), name


def _base_model(source: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A base model's (config, state dict, name), from any ``--model`` source."""
    from focalcli.model.loading import ModelLoadError

    try:
        return read_model(source)
    except ModelLoadError as e:
        raise ExportError(f"base model: {e}") from None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m focalcli.train.fargan_export",
                                 description="a feature-ladder probe run as a model folder")
    ap.add_argument("--run", required=True, help="probe run under ~/.cache/focal/runs")
    ap.add_argument("--out", type=Path, required=True, help="model folder to write")
    ap.add_argument("--name", default=None, help="model name in the card (default: folder name)")
    ap.add_argument("--chunk-tokens", type=int, default=LPCNET_DEFAULT_CHUNK_FRAMES,
                    help="tokens per streaming chunk (default %(default)s = 80 ms)")
    ap.add_argument("--fargan", type=Path, default=FARGAN_WEIGHTS)
    ap.add_argument("--pitchdnn", type=Path, default=PITCHDNN_WEIGHTS)
    ap.add_argument("--base", default="focal-small",
                    help="a hybrid run's base model, whose token is group 0 (default %(default)s)")
    args = ap.parse_args(argv)
    if args.chunk_tokens < 1:
        ap.error("--chunk-tokens must be at least 1")
    try:
        folder = export(args.run, args.out, args.name, args.chunk_tokens, args.fargan,
                        args.pitchdnn, args.base)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {folder} (config.json, model.safetensors, MODEL_CARD.md)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
