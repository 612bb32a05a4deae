"""FocalCodec: encoder -> compressor -> quantizer -> decompressor -> decoder.

Tensors and units::

    sig    (B, N)     float waveform, sample_rate_input (16 kHz) in, sample_rate_output out
    feats  (B, T, F)  encoder features at frame_rate (50 Hz), T = ceil(N / 320) when causal
    lats   (B, K, D)  L2-normalised compressor output, D = bits_per_token, K = ceil(T / c)
    toks   (B, K)     int64 tokens in [0, 2**D), at token_rate = frame_rate / c
    codes  (B, K, D)  +-1/sqrt(D)
    qfeats (B, K*c, F)  decompressed features, back at frame_rate

A grouped model (``num_groups`` G > 1, the quantizer's ``num_groups``) has nested bitrate rungs:
lats and codes are (B, K, G*D), each D-dim group L2-normalised on its own, and a frame has G
tokens, toks (B, K, G), group 0 first. Rung g sends the first g groups (``rungs`` lists the bits
per frame of each rung); ``toks_to_codes``/``toks_to_sig`` take (B, K, g) for any g <= G and the
decompressor gets zero codes for the groups not sent. Single-group models keep (B, K) tokens.

``c`` is ``compression_factor``, the product of the compressor's ``downscale_factors`` (1 for the
50 Hz models, 2 for 25 Hz, 4 for 12.5 Hz); the decompressor's ``upscale_factors`` undo it.

The roles are FocalCodec-Stream's modules (WavLM, FocalEncoder, FocalDecoder, WaveNeXt / Vocos),
the feature codec's (``focalcli.model.feature_codec``: LPCNet features, FARGAN) or the hybrid
ladder's, which joins both (``focalcli.model.hybrid``). A module
may state its widths and factors itself (``latent_dim``, ``downscale_factors`` /
``upscale_factors``), a decompressor its delay (``delay_tokens``: output token t describes
input token t - D) and a decoder its output lag (``delay_samples``); ``latency_ms`` adds both.

Every conversion takes an optional state and returns ``(output, new_state)``; pass the state back
to continue a stream (causal models only). ``EncodeState`` / ``DecodeState`` hold the two halves:
a receiver needs only the decode half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from focalcli.model.bsq import BinarySphericalQuantizer
from focalcli.model.decoders import DecoderState, Vocos, WaveNeXt
from focalcli.model.feature_codec import (
    FARGANDecoder,
    FARGANDecoderState,
    FeatureCompressor,
    FeatureDecompressor,
    LPCNetEncoder,
    LPCNetEncoderState,
)
from focalcli.model.focalnet import FocalDecoder, FocalEncoder, LayerState
from focalcli.model.hybrid import (
    HybridCompressor,
    HybridDecoder,
    HybridDecoderState,
    HybridDecompressor,
    HybridEncoder,
    HybridEncoderState,
)
from focalcli.model.wavlm import WavLM, WavLMState

MODULES: dict[str, type[nn.Module]] = {
    "WavLM": WavLM,
    "FocalEncoder": FocalEncoder,
    "BinarySphericalQuantizer": BinarySphericalQuantizer,
    "FocalDecoder": FocalDecoder,
    "WaveNeXt": WaveNeXt,
    "Vocos": Vocos,
    "LPCNetEncoder": LPCNetEncoder,
    "FeatureCompressor": FeatureCompressor,
    "FeatureDecompressor": FeatureDecompressor,
    "FARGANDecoder": FARGANDecoder,
    "HybridEncoder": HybridEncoder,
    "HybridCompressor": HybridCompressor,
    "HybridDecompressor": HybridDecompressor,
    "HybridDecoder": HybridDecoder,
}
ROLES = ("encoder", "compressor", "quantizer", "decompressor", "decoder")


def _latent_width(module: Any, layer: str, field: str) -> int:
    """A compressor's output / decompressor's input width: its ``latent_dim`` if it states
    one, else ``module.<layer>.<field>`` (FocalEncoder's out_proj, FocalDecoder's in_proj)."""
    width = getattr(module, "latent_dim", None)
    return int(width if width is not None else getattr(getattr(module, layer), field))


def _scale_factors(module: Any, attr: str, conv: str) -> tuple[int, ...]:
    """A module's ``downscale_factors`` / ``upscale_factors`` if it states them, else those of
    its layers' ``conv`` (FocalEncoder's downscale, FocalDecoder's upscale)."""
    own = getattr(module, attr, None)
    if own is not None:
        return tuple(int(f) for f in own)
    return tuple(int(getattr(m, conv).factor) for m in list[Any](module.layers))


@dataclass
class EncodeState:
    encoder: WavLMState | LPCNetEncoderState | HybridEncoderState | None = None
    compressor: list[LayerState] | None = None

    def tensors(self) -> list[Tensor]:
        out = self.encoder.tensors() if self.encoder else []
        return out + [t for layer in self.compressor or [] for t in layer if t is not None]


@dataclass
class DecodeState:
    decompressor: list[LayerState] | None = None
    decoder: DecoderState | FARGANDecoderState | HybridDecoderState | None = None

    def tensors(self) -> list[Tensor]:
        out = [t for layer in self.decompressor or [] for t in layer if t is not None]
        if isinstance(self.decoder, FARGANDecoderState | HybridDecoderState):
            return out + self.decoder.tensors()
        return out + [t for t in self.decoder or [] if t is not None]


class FocalCodec(nn.Module):
    """The codec, built from a reference-schema config (``{role}_name`` + ``{role}_config``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        for role in ROLES:
            name = config.get(f"{role}_name")
            if name not in MODULES:
                raise ValueError(f"{role}_name must be one of {sorted(MODULES)}, got {name!r}")
            kwargs = dict(config.get(f"{role}_config") or {})
            try:
                module = MODULES[name](**kwargs)
            except TypeError as e:
                raise ValueError(f"bad {role}_config for {name}: {e}") from None
            self.add_module(role, module)
        self.encoder: WavLM | LPCNetEncoder | HybridEncoder
        self.compressor: FocalEncoder | FeatureCompressor | HybridCompressor
        self.quantizer: BinarySphericalQuantizer
        self.decompressor: FocalDecoder | FeatureDecompressor | HybridDecompressor
        # WaveNeXt | Vocos | FARGANDecoder; Any, as training code reaches into the first two
        self.decoder: Any
        bits = self.quantizer.latent_dim
        compressor_out = _latent_width(self.compressor, "out_proj", "out_features")
        decompressor_in = _latent_width(self.decompressor, "in_proj", "in_features")
        if not compressor_out == bits == decompressor_in:
            groups = self.quantizer.num_groups
            raise ValueError(f"codebook_size {self.quantizer.codebook_size}"
                             + (f" in {groups} groups" if groups > 1 else "")
                             + f" needs {bits}-dim latents, but compressor output_dim is "
                             f"{compressor_out} and decompressor input_dim is {decompressor_in}")
        self.downscale_factors: tuple[int, ...] = _scale_factors(self.compressor,
                                                                 "downscale_factors", "downscale")
        down = math.prod(self.downscale_factors)
        up = math.prod(_scale_factors(self.decompressor, "upscale_factors", "upscale"))
        if down != up:
            raise ValueError(f"the compressor's downscale_factors multiply to {down} but the "
                             f"decompressor's upscale_factors to {up}: they must undo each other")
        self.compression_factor = down
        delay = int(getattr(self.decompressor, "delay_tokens", 0))
        skip = int(getattr(self.decoder, "skip_tokens", 0))
        if skip != delay:
            raise ValueError(f"the decoder skips {skip} tokens but the decompressor's delay is "
                             f"{delay}: they must agree")
        if self.causal and self.encoder.chunk_frames % down:
            raise ValueError(f"a causal model needs chunks of whole tokens: "
                             f"{self.encoder.chunk_frames} frames per chunk do not divide by "
                             f"the compressor's downscale {down}")
        self.name = "unnamed"
        self.weights_hash = "0" * 16
        #: hash of the encoder-side weights and config (`loading.token_space_hash`), or None
        self.token_space: str | None = None

    # -- properties ------------------------------------------------------------------------------
    @property
    def sample_rate_input(self) -> int:
        return self.encoder.sample_rate

    @property
    def sample_rate_output(self) -> int:
        return self.sample_rate_input * self.decoder.hop_length // self.encoder.downsample_factor

    @property
    def frame_rate(self) -> float:
        """Encoder (and decoder input) frames per second: 50 for every released model."""
        return self.sample_rate_input / self.encoder.downsample_factor

    @property
    def samples_per_token_input(self) -> int:
        """Input samples per token: 320 x ``compression_factor``."""
        return self.encoder.downsample_factor * self.compression_factor

    @property
    def samples_per_token_output(self) -> int:
        """Output samples per token: the decoder's hop x ``compression_factor``."""
        return self.decoder.hop_length * self.compression_factor

    @property
    def token_rate(self) -> float:
        """Tokens per second: 50, 25 or 12.5 (the frame rate over ``compression_factor``)."""
        return self.sample_rate_input / self.samples_per_token_input

    @property
    def bits_per_token(self) -> int:
        """Bits of one token: for a grouped model, of one group's token (``bits_per_group``)."""
        return self.quantizer.dim

    @property
    def num_groups(self) -> int:
        """Tokens per frame: 1 for single-rate models, G for a model with bitrate rungs."""
        return self.quantizer.num_groups

    @property
    def bits_per_group(self) -> int:
        """Bits of each group's token (= ``bits_per_token``)."""
        return self.quantizer.dim

    @property
    def rung_groups(self) -> list[int]:
        """The group counts g a sender may use, ascending: 1, 2, 4, ... up to and with G."""
        out, g = [], 1
        while g < self.num_groups:
            out.append(g)
            g *= 2
        return [*out, self.num_groups]

    @property
    def rungs(self) -> list[int]:
        """Bits per frame of each rung, ascending (``[12]`` single-rate; ``[12, 24, 48]`` for
        4 groups of 12 bits). Any g <= G decodes; these are the rungs the model was trained on."""
        return [g * self.bits_per_group for g in self.rung_groups]

    def rung_bitrate_kbps(self, groups: int) -> float:
        """Payload bitrate in kbit/s when the first ``groups`` groups are sent."""
        return self.token_rate * self.bits_per_group * groups / 1000

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    @property
    def bitrate_kbps(self) -> float:
        """Payload kbit/s at the top rung (all groups); single-rate models: their one rate."""
        return self.rung_bitrate_kbps(self.num_groups)

    @property
    def causal(self) -> bool:
        parts = (self.encoder, self.compressor, self.decompressor, self.decoder)
        return all(bool(getattr(p, "causal", False)) for p in parts)

    @property
    def chunk_size(self) -> int:
        """Input samples per streaming chunk (1280 = 80 ms for the released causal models)."""
        return self.encoder.chunk_size

    @property
    def chunk_tokens(self) -> int:
        """Tokens per streaming chunk (4 for the released causal models)."""
        return self.encoder.chunk_frames // self.compression_factor

    def num_tokens(self, num_samples: int) -> int:
        """Tokens the encoder gives for ``num_samples`` input samples, as focal codes them.

        Causal: the last chunk is zero-padded, ``chunk_tokens * ceil(n / chunk_size)``.
        Non-causal: what the reference's unpadded convolutions give for the whole signal,
        ``T = floor((max(T, k) - k) / s) + 1`` through the front end (``T0 = n``), then
        ``ceil(T / f)`` through each downscale of the compressor (199 tokens for 4 s at 50 Hz,
        not 200).
        """
        if self.causal:
            return self.chunk_tokens * -(-num_samples // self.chunk_size)
        frames = num_samples
        front = getattr(self.encoder, "feature_extractor", None)
        blocks: list[Any] = list(getattr(front, "layers", []))
        for block in blocks:
            kernel, stride = int(block.conv.kernel_size[0]), int(block.conv.stride[0])
            frames = (max(frames, kernel) - kernel) // stride + 1
        for factor in self.downscale_factors:
            frames = -(-frames // factor)
        return frames

    def num_samples_output(self, num_samples: int) -> int:
        """Decoded samples for ``num_samples`` input samples: ``floor(n * sr_out / sr_in)``,
        the reference's ``output_length`` (its ``int(n * sr_out / sr_in)``)."""
        return num_samples * self.sample_rate_output // self.sample_rate_input

    @property
    def delay_samples(self) -> int:
        """Input samples by which the decoded output lags the input, beyond the chunk: the
        decompressor's ``delay_tokens`` and the decoder's ``delay_samples`` (0 for
        FocalCodec-Stream's modules)."""
        delay = int(getattr(self.decompressor, "delay_tokens", 0))
        return delay * self.samples_per_token_input + int(getattr(self.decoder, "delay_samples", 0))

    @property
    def latency_ms(self) -> float | None:
        """Algorithmic latency (causal only): the input a chunk must gather before it is coded,
        plus ``delay_samples``."""
        if not self.causal:
            return None
        return 1000.0 * (self.chunk_size + self.delay_samples) / self.sample_rate_input

    def num_parameters(self) -> dict[str, int]:
        return {role: sum(p.numel() for p in getattr(self, role).parameters()) for role in ROLES}

    # -- conversions -----------------------------------------------------------------------------
    def sig_to_feats(self, sig: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """(B, N) -> (B, T, F) encoder features; the state is the encoder's own."""
        return self.encoder(sig, state)

    def feats_to_lats(self, feats: Tensor, state: list[LayerState] | None = None
                      ) -> tuple[Tensor, list[LayerState]]:
        """(B, T, F) features -> (B, K, G*D) latents, each D-dim group unit-norm."""
        lats, state = self.compressor(feats, state)
        return self.quantizer.normalize(lats), state

    def lats_to_toks(self, lats: Tensor) -> Tensor:
        """(B, K, G*D) latents -> (B, K) tokens, or (B, K, G) for a grouped model."""
        return self.quantizer.lats_to_toks(lats)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        return self.quantizer.lats_to_codes(lats)

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        """(B, K) tokens -> (B, K, D) codes; grouped: (B, K, g) tokens of the first g <= G
        groups -> (B, K, G*D) codes, zero for the groups not sent."""
        codes = self.quantizer.toks_to_codes(toks)
        return codes if self.num_groups == 1 else self.quantizer.pad_codes(codes)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        return self.quantizer.codes_to_toks(codes)

    def codes_to_qfeats(self, codes: Tensor, state: list[LayerState] | None = None
                        ) -> tuple[Tensor, list[LayerState]]:
        """(B, K, G*D) codes -> (B, K*c, F); grouped: (B, K, g*D) is zero-padded to G*D."""
        if self.num_groups > 1:
            codes = self.quantizer.pad_codes(codes)
        return self.decompressor(codes, state)

    def qfeats_to_sig(self, qfeats: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """(B, T, F) -> (B, T * hop) samples; the state is the decoder's own."""
        return self.decoder(qfeats, state)

    def sig_to_toks(self, sig: Tensor, state: EncodeState | None = None
                    ) -> tuple[Tensor, EncodeState]:
        """(B, N) samples -> (B, K) tokens, (B, K, G) for a grouped model (every group: a
        sender drops the trailing groups it does not send). Streaming: N a multiple of
        ``chunk_size``; the state is the same for every rung."""
        state = state or EncodeState()
        feats, enc = self.sig_to_feats(sig, state.encoder)
        lats, comp = self.feats_to_lats(feats, state.compressor)
        return self.lats_to_toks(lats), EncodeState(enc, comp)

    def codes_to_sig(self, codes: Tensor, state: DecodeState | None = None
                     ) -> tuple[Tensor, DecodeState]:
        """(B, T, D) codes -> (B, T * samples_per_token_output) samples.

        Streaming with a refiner: T a multiple of ``chunk_tokens`` except in the last call.
        """
        state = state or DecodeState()
        qfeats, decomp = self.codes_to_qfeats(codes, state.decompressor)
        sig, dec = self.qfeats_to_sig(qfeats, state.decoder)
        return sig, DecodeState(decomp, dec)

    def toks_to_sig(self, toks: Tensor, state: DecodeState | None = None
                    ) -> tuple[Tensor, DecodeState]:
        """(B, K) tokens, or (B, K, g) with g <= G for a grouped model -> (B, K * hop) samples.

        The decode state does not depend on g, so the rung may change from one call to the next.
        """
        return self.codes_to_sig(self.toks_to_codes(toks), state)

    def extra_repr(self) -> str:
        groups = f", num_groups={self.num_groups}" if self.num_groups > 1 else ""
        return f"name={self.name!r}, bits_per_token={self.bits_per_token}{groups}"

