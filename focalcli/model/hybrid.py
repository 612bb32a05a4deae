"""The hybrid ladder: focal-small v6's own token as the 0.6 kbit/s rung, FARGAN rungs above it.

Group 0 of each 20 ms frame is what a FocalCodec-Stream model (WavLM, FocalEncoder) makes of the
audio and is decoded by that model's own FocalDecoder and Vocos, so rung 1 sounds exactly as
the base model. Groups 1.. come from a ``FeatureCompressor`` that reads the LPCNet features of
the frame and group 0's codes (the scalar pitch / voicing fields lead group 1); with two or more
groups a ``FeatureDecompressor`` and ``FARGANDecoder`` speak instead. The four roles::

    HybridEncoder       sig (B, N)               -> (B, T, F + 40)   WavLM features | LPCNet
    HybridCompressor    (B, T, F + 40)           -> (B, T, D0 + L)   group 0 | groups 1..
    HybridDecompressor  codes (B, T, D0 + L)     -> (B, T, Q + 40 + 2)
                        base features | LPCNet features | FARGAN weight | groups 1.. sent
    HybridDecoder       (B, T, Q + 40 + 2)       -> (B, T * 320)

The base audio is held back by the feature path's ``delay_tokens`` and FARGAN's output lag so
the two line up; the decoder fades between them over one token whenever the weight changes. The
weight is 1 once groups 1.. have been sent for ``warmup_tokens`` tokens in a row, and 0 as soon
as a token arrives without them. FARGAN runs only on tokens that carry groups 1.., so a stream
at 0.6 kbit/s costs what the base model costs; when they come back, FARGAN continues from where
it stopped (after skipping its first ``delay_tokens`` and priming on 5 frames, the first time),
and the warm-up covers that and the recurrent states' settling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from focalcli.model.decoders import Vocos
from focalcli.model.feature_codec import (
    FARGANDecoder,
    FARGANDecoderState,
    FeatureCompressor,
    FeatureDecompressor,
    LPCNetEncoder,
    LPCNetEncoderState,
    state_tensors,
)
from focalcli.model.focalnet import FocalDecoder, FocalEncoder, LayerState
from focalcli.model.wavlm import WavLM, WavLMState

#: where a base model's roles sit inside a hybrid: state-dict prefix and config key per role
BASE_ROLES = {"encoder": ("encoder.wavlm.", "wavlm_config"),
              "compressor": ("compressor.focal.", "focal_config"),
              "decompressor": ("decompressor.focal.", "focal_config"),
              "decoder": ("decoder.vocos.", "vocos_config")}
BASE_NAMES = {"encoder": "WavLM", "compressor": "FocalEncoder", "decompressor": "FocalDecoder",
              "decoder": "Vocos"}


def base_mismatch(config: dict[str, Any], base: dict[str, Any]) -> str | None:
    """Why the model config ``base`` is not the one a hybrid ``config`` nests, or None: the
    same module names, role configs and a quantizer of one group as big as the hybrid's."""
    for role, name in BASE_NAMES.items():
        if base.get(f"{role}_name") != name:
            return f"its {role} is {base.get(f'{role}_name')!r}, not {name}"
        nested = (config.get(f"{role}_config") or {}).get(BASE_ROLES[role][1])
        if nested != base.get(f"{role}_config"):
            return f"its {role}_config differs from the hybrid's {BASE_ROLES[role][1]}"
    q, bq = config.get("quantizer_config") or {}, base.get("quantizer_config") or {}
    if bq.get("codebook_size") != q.get("codebook_size") or int(bq.get("num_groups", 1)) != 1:
        return "its quantizer is not one group of the hybrid's codebook size"
    return None


def base_state_in_hybrid(base_state: dict[str, Any]) -> dict[str, Any]:
    """A base model's state dict under the hybrid's names (its quantizer has no weights)."""
    out = {}
    for key, value in base_state.items():
        role, _, rest = key.partition(".")
        if role in BASE_ROLES:
            out[BASE_ROLES[role][0] + rest] = value
    return out


#: tokens with groups 1.. in a row before the decoder fades to FARGAN, beyond the decompressor's
#: delay: FARGANDecoder's 5 priming frames (2.5 tokens) and the recurrent states' settling
WARMUP_TOKENS_BEYOND_DELAY = 3


@dataclass
class HybridEncoderState:
    wavlm: WavLMState | None
    lpcnet: LPCNetEncoderState | None

    def tensors(self) -> list[Tensor]:
        return state_tensors(self.wavlm) + state_tensors(self.lpcnet)


class HybridEncoder(nn.Module):
    """16 kHz samples (B, N) -> (B, N / 320, F + 40): a causal WavLM's F features per frame,
    then the LPCNet analysis' 40 values per 20 ms token. Both stream in the WavLM's chunks."""

    causal = True

    def __init__(self, wavlm_config: dict[str, Any], lpcnet_config: dict[str, Any] | None = None
                 ) -> None:
        super().__init__()
        self.wavlm = WavLM(**wavlm_config)
        if not self.wavlm.causal:
            raise ValueError("the hybrid's WavLM must be causal")
        self.lpcnet = LPCNetEncoder(**{"chunk_frames": self.wavlm.chunk_frames,
                                       **(lpcnet_config or {})})
        if (self.lpcnet.downsample_factor, self.lpcnet.chunk_frames) != (
                self.wavlm.downsample_factor, self.wavlm.chunk_frames):
            raise ValueError("the WavLM and the LPCNet analysis must share frames and chunks: "
                             f"{self.wavlm.downsample_factor} x {self.wavlm.chunk_frames} "
                             f"against {self.lpcnet.downsample_factor} x "
                             f"{self.lpcnet.chunk_frames} samples")
        self.sample_rate = self.wavlm.sample_rate
        self.downsample_factor = self.wavlm.downsample_factor
        self.chunk_frames = self.wavlm.chunk_frames
        self.chunk_size = self.wavlm.chunk_size

    def forward(self, sig: Tensor, state: HybridEncoderState | None = None
                ) -> tuple[Tensor, HybridEncoderState]:
        state = state or HybridEncoderState(None, None)
        wavlm, s_wavlm = self.wavlm(sig, state.wavlm)
        lpcnet, s_lpcnet = self.lpcnet(sig, state.lpcnet)
        T = min(wavlm.shape[1], lpcnet.shape[1])
        return torch.cat([wavlm[:, :T], lpcnet[:, :T]], dim=-1), HybridEncoderState(s_wavlm,
                                                                                   s_lpcnet)


class HybridCompressor(nn.Module):
    """(B, T, F + 40) -> latents (B, T, D0 + L): a FocalEncoder's D0 latents of the first F
    columns (group 0), then a ``FeatureCompressor``'s L of the 40 LPCNet values and group 0's
    codes (+-1/sqrt(D0), the signs the quantizer will give). State: the FocalEncoder's layer
    states, then the FeatureCompressor's."""

    causal = True
    downscale_factors = (1,)

    def __init__(self, focal_config: dict[str, Any], feature_config: dict[str, Any]) -> None:
        super().__init__()
        self.focal = FocalEncoder(**focal_config)
        if any(int(m.downscale.factor) != 1 for m in list[Any](self.focal.layers)):
            raise ValueError("the hybrid's FocalEncoder must keep 50 Hz (downscale_factors 1)")
        self.group_dim = int(self.focal.out_proj.out_features)
        self.feature = FeatureCompressor(**feature_config)
        self.latent_dim = self.group_dim + self.feature.latent_dim

    def forward(self, feats: Tensor, state: list[LayerState] | None = None
                ) -> tuple[Tensor, list[LayerState]]:
        n = len(self.focal.layers)
        lats0, s_focal = self.focal(feats[..., : -40], state[:n] if state else None)
        scale = self.group_dim**-0.5
        codes0 = torch.where(lats0 > 0, scale, -scale).to(lats0.dtype)
        rest, s_feature = self.feature(torch.cat([feats[..., -40:], codes0], dim=-1),
                                       state[n:] if state else None)
        return torch.cat([lats0, rest], dim=-1), s_focal + s_feature


class HybridDecompressor(nn.Module):
    """Codes (B, T, D0 + L) -> (B, T, Q + 40 + 2), causal.

    Columns: the FocalDecoder's Q features of group 0 (token t), the FeatureDecompressor's 40
    LPCNet values of all groups (describing token t - ``delay_tokens``; its scalar fields are
    read from group 1), the FARGAN weight: 1 when groups 1.. arrived in each of the last
    ``warmup_tokens`` tokens (default: ``delay_tokens`` + 3), else 0; and 1 where token t
    carries groups 1.., else 0. State: the FocalDecoder's layer states, the
    FeatureDecompressor's, then [tokens in a row with groups 1.. (B, 1)].
    """

    causal = True
    upscale_factors = (1,)

    def __init__(self, focal_config: dict[str, Any], feature_config: dict[str, Any],
                 warmup_tokens: int | None = None) -> None:
        super().__init__()
        self.focal = FocalDecoder(**focal_config)
        self.feature = FeatureDecompressor(**{"scalar_offset": int(focal_config["input_dim"]),
                                              **feature_config})
        self.group_dim = int(focal_config["input_dim"])
        self.latent_dim = self.feature.latent_dim
        self.delay_tokens = self.feature.delay_tokens
        least = self.delay_tokens + WARMUP_TOKENS_BEYOND_DELAY
        if warmup_tokens is None:
            warmup_tokens = least
        if not isinstance(warmup_tokens, int) or warmup_tokens < least:
            raise ValueError(f"warmup_tokens must be an integer >= delay_tokens + "
                             f"{WARMUP_TOKENS_BEYOND_DELAY} = {least}, got {warmup_tokens!r}")
        self.warmup_tokens = warmup_tokens

    def forward(self, codes: Tensor, state: list[LayerState] | None = None
                ) -> tuple[Tensor, list[LayerState]]:
        n = len(self.focal.layers)
        B, T, _ = codes.shape
        base, s_focal = self.focal(codes[..., : self.group_dim], state[:n] if state else None)
        feats, s_feature = self.feature(codes, state[n : n + 1] if state else None)
        run = state[n + 1][0] if state else None
        if run is None:
            run = torch.zeros(B, 1, dtype=torch.long, device=codes.device)
        sent = (codes[..., self.group_dim :].abs().sum(-1) > 0).long()  # (B, T)
        # tokens in a row with groups 1.., ending at each token
        runs = []
        for t in range(T):
            run = (run + 1) * sent[:, t : t + 1]
            runs.append(run)
        weight = (torch.cat(runs, dim=1) >= self.warmup_tokens).to(base.dtype) if T else \
            base.new_zeros(B, 0)
        out = torch.cat([base, feats, weight[..., None], sent[..., None].to(base.dtype)], dim=-1)
        return out, s_focal + s_feature + [[run]]


@dataclass
class HybridDecoderState:
    """vocos: the base vocoder's; fargan: FARGANDecoder's; tail: base samples held back (B,
    ``held_samples``); gain: FARGAN's share at the end of the last token (B, 1)."""

    vocos: list[Tensor | None] | None
    fargan: FARGANDecoderState | None
    tail: Tensor
    gain: Tensor

    def tensors(self) -> list[Tensor]:
        return state_tensors(self.vocos) + state_tensors(self.fargan) + [self.tail, self.gain]


class HybridDecoder(nn.Module):
    """(B, T, Q + 40 + 2) -> 16 kHz samples (B, T * 320), causal.

    A Vocos speaks the first Q columns, FARGAN the next 40 on the tokens whose last column is 1
    or that fade it out, in any row (the others leave its state as it was); the base output is
    held back by ``held_samples`` (``skip_tokens`` tokens and FARGAN's output lag
    ``delay_samples``) so the two line up, and each token's output mixes them by the weight
    column, the mix moving linearly over the token when it changes. The first
    ``held_samples`` are zeros.
    """

    causal = True

    def __init__(self, vocos_config: dict[str, Any], fargan_config: dict[str, Any] | None = None,
                 skip_tokens: int = 0) -> None:
        super().__init__()
        self.vocos = Vocos(**vocos_config)
        if not self.vocos.causal:
            raise ValueError("the hybrid's Vocos must be causal")
        self.fargan = FARGANDecoder(fargan_config, skip_tokens)
        if self.vocos.hop_length != self.fargan.hop_length:
            raise ValueError(f"the Vocos hop ({self.vocos.hop_length}) must be FARGAN's "
                             f"token ({self.fargan.hop_length} samples)")
        self.hop_length = self.fargan.hop_length
        self.skip_tokens = skip_tokens
        self.delay_samples = self.fargan.delay_samples
        self.held_samples = skip_tokens * self.hop_length + self.delay_samples

    def forward(self, x: Tensor, state: HybridDecoderState | None = None
                ) -> tuple[Tensor, HybridDecoderState]:
        B, T, _ = x.shape
        hop = self.hop_length
        if state is None:
            state = HybridDecoderState(None, None, x.new_zeros(B, self.held_samples),
                                       x.new_zeros(B, 1))
        target = x[..., -2]  # (B, T): FARGAN's share at the end of each token
        start = torch.cat([state.gain, target[:, :-1]], dim=1)  # and at its start
        base, s_vocos = self.vocos(x[..., :-42], state.vocos)
        # FARGAN where groups 1.. came, and where it still has a share (a fade out)
        fargan, s_fargan = self._fargan_where_on(x[..., -42:-2], (x[..., -1] > 0) | (start > 0),
                                                 state.fargan)
        line = torch.cat([state.tail, base], dim=1)
        base, tail = line[:, : T * hop], line[:, T * hop :]
        ramp = torch.arange(1, hop + 1, dtype=x.dtype, device=x.device) / hop
        gain = (start[..., None] + (target - start)[..., None] * ramp).reshape(B, T * hop)
        # where FARGAN has no share the output is the base's, bit for bit
        out = torch.where(gain > 0, base + gain * (fargan - base), base)
        return out, HybridDecoderState(s_vocos, s_fargan, tail,
                                       target[:, -1:] if T else state.gain)

    def _fargan_where_on(self, feats: Tensor, mask: Tensor, state: FARGANDecoderState | None
                         ) -> tuple[Tensor, FARGANDecoderState | None]:
        """FARGAN on each run of tokens that ``mask`` (B, T) marks in any row, zeros elsewhere:
        (B, T * 320)."""
        B, T, _ = feats.shape
        hop = self.hop_length
        out = feats.new_zeros(B, T * hop)
        on = mask.any(0).tolist() if B else [False] * T
        t = 0
        while t < T:
            if not on[t]:
                t += 1
                continue
            end = t
            while end < T and on[end]:
                end += 1
            out[:, t * hop : end * hop], state = self.fargan(feats[:, t:end], state)
            t = end
        return out, state
