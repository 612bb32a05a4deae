"""Export a training checkpoint as a loadable model folder: config.json + model.safetensors +
MODEL_CARD.md (same layout and loader as the official models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from focalcli.model.codec import FocalCodec

SOURCES_MD = Path("/work/shared/data/speech/SOURCES.md")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file, or a run folder (its ``last.pt``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "last.pt"
    state: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=False)
    return state


def _card(codec: FocalCodec, state: dict[str, Any], name: str, extra: str) -> str:
    cfg = state["config"]
    params = codec.num_parameters()
    total = sum(params.values())
    enc, dec = cfg["model"]["encoder_config"], cfg["model"]["decoder_config"]
    lines = [
        f"# {name}",
        "",
        f"Licence: {cfg.get('licence', 'CC-BY-4.0')} (weights; trained on CC BY 4.0 / ODbL 1.0 "
        "speech, attributions below)",
        "",
        "A small causal FocalCodec-Stream-style speech codec trained from scratch on CPU for the "
        "`focal` command-line tool.",
        "",
        "## Architecture",
        "",
        f"- Input 16 kHz mono, {codec.token_rate:g} tokens/s, one binary codebook of "
        f"{codec.codebook_size} entries ({codec.bits_per_token} bits/token, "
        f"{codec.bitrate_kbps:g} kbps), output {codec.sample_rate_output} Hz.",
        f"- Causal everywhere; chunk {codec.chunk_size} samples = algorithmic latency "
        f"{codec.latency_ms:g} ms.",
        f"- Encoder: WavLM-style causal conv front end (dims {enc['hidden_dims']}) + "
        f"{enc['num_layers']} chunked-attention transformer layers (dim {enc['dim']}, "
        f"window {enc['window_size']} frames).",
        "- Compressor: FocalEncoder (focal modulation) -> L2-normalised latents; quantiser: "
        "binary spherical quantiser (BSQ).",
        "- Decompressor: FocalDecoder with chunk refiner; decoder: "
        f"{cfg['model']['decoder_name']} ({dec['num_layers']} ConvNeXt layers, dim {dec['dim']}, "
        f"hop {dec['hop_length']}).",
        f"- Parameters: {total:,} ({total * 4 / 2**20:.1f} MiB fp32): "
        + ", ".join(f"{k} {v:,}" for k, v in params.items()) + ".",
        "",
        "## Training",
        "",
        f"- Joint end-to-end from scratch (no FocalCodec staged recipe), {state['step']:,} steps "
        f"of {cfg['batch_size']} x {cfg['data']['crop_seconds']} s crops, "
        f"{state['cpu_seconds'] / 60:.0f} CPU-process minutes on a 2-core machine "
        f"({state.get('audio_seconds', 0) / 3600:.1f} h of audio seen), seed {cfg['seed']}.",
        f"- Losses: multi-resolution log-mel L1 + spectral convergence + log-magnitude L1 "
        f"(FFT {cfg['loss']['fft_sizes']}), BSQ commitment ({cfg['loss']['commit']}) and "
        f"bit-balance/decorrelation ({cfg['loss']['balance']}); quantisation ramped in over steps "
        f"{cfg['loss']['quant_ramp']} with a straight-through estimator; GAN: "
        f"{'on' if cfg['gan']['enabled'] else 'off'}.",
        f"- AdamW lr {cfg['optim']['lr']} (encoder x{cfg['optim']['encoder_lr_mult']}), "
        f"warm-up {cfg['optim']['warmup_steps']}, cosine to x{cfg['optim']['min_lr_ratio']}.",
        "- Data: train split of the shared speech manifest (dev speakers held out), silence "
        "trimmed, random crops, random level -32..-16 dBFS, light white noise on 20 % of inputs.",
        "- Training config: `focalcli/train/configs/focal-small.json`.",
        "",
        "## Data and attributions",
        "",
        "- LibriSpeech ASR corpus (Panayotov, Chen, Povey, Khudanpur, 2015), sample of "
        "train-clean-100, CC BY 4.0.",
        "- MS-SNSD clean speech (Microsoft Scalable Noisy Speech Dataset), containing PTDB-TUG "
        "(ODbL 1.0) and a VCTK subset (CC BY 4.0).",
        "- CSTR VCTK Corpus (Yamagishi, Veaux, MacDonald, 2019), speakers p225, p227, p228, p232, "
        "CC BY 4.0.",
        "",
    ]
    if extra:
        lines += [extra.rstrip(), ""]
    return "\n".join(lines)


def export_model(checkpoint: str | Path, out_dir: str | Path, name: str = "focal-small",
                 card_extra: str | Path | None = None) -> Path:
    """Write ``out_dir/{config.json, model.safetensors, MODEL_CARD.md}`` from a checkpoint.

    ``card_extra``: markdown (or a path to a markdown file) appended to the model card, e.g. the
    evaluation table and the real-time factor.
    """
    from safetensors.torch import save_file

    state = load_checkpoint(checkpoint)
    config = state["config"]["model"]
    codec = FocalCodec(config)
    codec.load_state_dict(state["model"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {k: v.detach().float().contiguous() for k, v in codec.state_dict().items()}
    save_file(tensors, str(out / "model.safetensors"),
              metadata={"step": str(state["step"]), "name": name})
    extra = ""
    if card_extra:
        p = Path(card_extra)
        extra = p.read_text() if p.is_file() else str(card_extra)
    (out / "MODEL_CARD.md").write_text(_card(codec, state, name, extra))
    return out
