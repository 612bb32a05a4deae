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
    state: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=True)
    return state


def _front_end(enc: dict[str, Any]) -> str:
    if enc.get("frontend", "conv") == "logmel":
        return (f"causal log-mel front end ({enc.get('n_mels', 80)} bands, {enc.get('n_fft', 400)}"
                f"-sample Hann window, hop {enc.get('hop_length', 160)}, 2 sub-frames per frame"
                + (", plus causal log-f0 and periodicity" if enc.get("pitch_features") else "")
                + ")")
    return f"WavLM-style causal conv front end (dims {enc['hidden_dims']})"


def _decoder_heads(dec: dict[str, Any]) -> str:
    heads = []
    if "n_fft" in dec:
        heads.append(f"iSTFT head, n_fft {dec['n_fft']}"
                     + (", phase relative to stream time" if dec.get("absolute_phase") else ""))
    if dec.get("harmonics"):
        heads.append(f"harmonic head: {dec['harmonics']} harmonics of a predicted f0 with a "
                     "running phase, amplitudes from the iSTFT envelope, voicing-gated")
    return ": " + "; ".join(heads) if heads else ""


def _card(codec: FocalCodec, state: dict[str, Any], name: str, extra: str,
          half: bool = False) -> str:
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
        "A small causal FocalCodec-Stream-style speech codec trained on CPU for the "
        "`focal` command-line tool.",
        "",
        "## Architecture",
        "",
        (f"- Input 16 kHz mono, {codec.token_rate:g} tokens/s, one binary codebook of "
         f"{codec.codebook_size} entries ({codec.bits_per_token} bits/token, "
         f"{codec.bitrate_kbps:g} kbps), output {codec.sample_rate_output} Hz."
         if codec.num_groups == 1 else
         f"- Input 16 kHz mono, {codec.token_rate:g} frames/s of {codec.num_groups} nested "
         f"{codec.bits_per_group}-bit tokens (binary codebooks of {codec.codebook_size} "
         f"entries, one per group); bitrate rungs of "
         + ", ".join(f"{g} group{'s' if g > 1 else ''} = {g * codec.bits_per_group} bits/frame "
                     f"= {codec.rung_bitrate_kbps(g):g} kbps" for g in codec.rung_groups)
         + f"; output {codec.sample_rate_output} Hz."),
        f"- Causal everywhere; chunk {codec.chunk_size} samples = algorithmic latency "
        f"{codec.latency_ms:g} ms.",
        f"- Encoder: {_front_end(enc)} + {enc['num_layers']} chunked-attention transformer "
        f"layers (dim {enc['dim']}, window {enc['window_size']} frames).",
        "- Compressor: FocalEncoder (focal modulation) -> L2-normalised latents; quantiser: "
        "binary spherical quantiser (BSQ)"
        + (f", {codec.num_groups} groups of {codec.bits_per_group} dims, each normalised and "
           "quantised on its own; a decoder sent fewer groups gets zero codes for the rest"
           if codec.num_groups > 1 else "") + ".",
        "- Decompressor: FocalDecoder with chunk refiner; decoder: "
        f"{cfg['model']['decoder_name']} ({dec['num_layers']} ConvNeXt layers, dim {dec['dim']}, "
        f"hop {dec['hop_length']}){_decoder_heads(dec)}.",
        f"- Parameters: {total:,} ({total * (2 if half else 4) / 2**20:.1f} MiB stored as "
        f"{'float16' if half else 'float32'}): "
        + ", ".join(f"{k} {v:,}" for k, v in params.items()) + ".",
        "",
        "## Training",
        "",
        ("- Joint end-to-end (all modules trained together; no FocalCodec staged recipe)"
         if not cfg["optim"].get("freeze") else
         f"- Partial fine-tuning ({', '.join(cfg['optim']['freeze'])} frozen, the rest trained)")
        + (f", warm-started from `{cfg['init_from']}`" if cfg.get("init_from") else
           " from scratch")
        + f": {state['step']:,} steps of {cfg['batch_size']} x {cfg['data']['crop_seconds']} s "
        f"crops in this run, {state['cpu_seconds'] / 60:.0f} CPU-process minutes on a shared "
        f"2-core machine ({state.get('audio_seconds', 0) / 3600:.1f} h of audio seen), "
        f"seed {cfg['seed']}.",
        *[f"- {note}" for note in cfg.get("notes", [])],
        f"- Losses: multi-resolution log-mel L1 + spectral convergence + log-magnitude L1 "
        f"(FFT {cfg['loss']['fft_sizes']})"
        + (f" + relative waveform L1 ({cfg['loss']['wave']})" if cfg["loss"].get("wave") else "")
        + (f" + pitch and voicing targets from an autocorrelation tracker (weight "
           f"{cfg['loss']['pitch']}; the tracker's f0 drives the voice in "
           f"{cfg['loss'].get('pitch_teacher', 0):.0%} of steps)"
           if cfg["loss"].get("pitch") else "")
        + f", BSQ commitment ({cfg['loss']['commit']}), bit-balance/decorrelation "
        f"({cfg['loss']['balance']}) and group entropy ({cfg['loss'].get('group_entropy', 0)}); "
        "quantisation ramped in over steps "
        f"{cfg['loss']['quant_ramp']} with a straight-through estimator; GAN: "
        f"{'on' if cfg['gan']['enabled'] else 'off'}.",
        f"- AdamW lr {cfg['optim']['lr']} (encoder x{cfg['optim']['encoder_lr_mult']}), "
        f"warm-up {cfg['optim']['warmup_steps']}, cosine to x{cfg['optim']['min_lr_ratio']}"
        + (f"; frozen: {', '.join(cfg['optim']['freeze'])}" if cfg["optim"].get("freeze")
           else "") + ".",
        "- Data: train split of the shared speech manifest (dev speakers held out), silence "
        "trimmed, random crops, random level -32..-16 dBFS, light white noise on 20 % of inputs.",
        f"- Training config: `focalcli/train/configs/{cfg['name']}.json` (the table below lists "
        "every stage).",
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


@torch.no_grad()
def calibrate_level(codec: FocalCodec, data: dict[str, Any], seconds: float = 60.0,
                    seed: int = 1) -> float:
    """Make the decoded level match the input level; returns the applied gain in dB.

    Codes ``seconds`` of training crops (RMS of output vs input, in dB, median over crops) and
    folds the inverse gain into the decoder's output layer: for Vocos the log-magnitude bias
    (the inverse FFT is linear, and harmonic amplitudes follow that spectrum), for WaveNeXt
    the head's weight and bias. Spectral log losses leave a small overall level bias that this
    removes.
    """
    import numpy as np

    from focalcli.train.data import CropSampler, DataConfig

    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) and k.endswith("_db") else v
                              for k, v in data.items()}
    cfg = DataConfig(**fields)
    cfg.noise_prob = 0.0
    sampler = CropSampler(cfg)
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds / cfg.crop_seconds))
    clean, _ = sampler.batch(rng, n)
    toks, _ = codec.sig_to_toks(clean)
    out, _ = codec.toks_to_sig(toks)
    m = min(out.shape[1], clean.shape[1])
    ratio = out[:, :m].pow(2).mean(1).sqrt() / clean[:, :m].pow(2).mean(1).sqrt()
    gain_db = -float(20 * torch.log10(ratio).median())
    gain = 10 ** (gain_db / 20)
    head = codec.decoder.head
    proj: torch.nn.Linear = head.proj
    if hasattr(head, "n_fft"):
        bins = proj.out_features // 2
        proj.bias[:bins] += float(np.log(gain))
    else:
        proj.weight.mul_(gain)
        proj.bias.mul_(gain)
    return gain_db


def _read_extra(card_extra: str | Path | None) -> str:
    """Markdown text from a file path, or the string itself."""
    if not card_extra:
        return ""
    text = str(card_extra)
    if "\n" not in text and len(text) < 1000 and Path(text).is_file():
        return Path(text).read_text()
    return text


def export_model(checkpoint: str | Path, out_dir: str | Path, name: str = "focal-small",
                 card_extra: str | Path | None = None, calibrate: bool = False,
                 half: bool = False) -> Path:
    """Write ``out_dir/{config.json, model.safetensors, MODEL_CARD.md}`` from a checkpoint.

    ``card_extra``: markdown (or a path to a markdown file) appended to the model card, e.g. the
    evaluation table and the real-time factor. ``half``: store float16 weights (half the file;
    the loader computes in float32 either way).
    """
    from safetensors.torch import save_file

    state = load_checkpoint(checkpoint)
    config = state["config"]["model"]
    codec = FocalCodec(config)
    codec.load_state_dict(state["model"])
    codec.eval()
    extra = _read_extra(card_extra)
    if calibrate:
        gain_db = calibrate_level(codec, state["config"]["data"])
        extra = (f"Output level calibrated at export: {gain_db:+.1f} dB folded into the "
                 f"decoder head (decoded level = input level).\n\n{extra}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in codec.state_dict().items()}
    save_file(tensors, str(out / "model.safetensors"),
              metadata={"step": str(state["step"]), "name": name})
    (out / "MODEL_CARD.md").write_text(_card(codec, state, name, extra, half))
    return out
