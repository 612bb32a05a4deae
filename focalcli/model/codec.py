"""FocalCodec: encoder -> compressor -> quantizer -> decompressor -> decoder.

Tensors and units::

    sig    (B, N)     float waveform, sample_rate_input (16 kHz) in, sample_rate_output out
    feats  (B, T, F)  encoder features at token_rate (50 Hz), T = ceil(N / 320)
    lats   (B, T, D)  L2-normalised compressor output, D = bits_per_token
    toks   (B, T)     int64 tokens in [0, 2**D)
    codes  (B, T, D)  +-1/sqrt(D)
    qfeats (B, T, F)  decompressed features

Every conversion takes an optional state and returns ``(output, new_state)``; pass the state back
to continue a stream (causal models only). ``EncodeState`` / ``DecodeState`` hold the two halves:
a receiver needs only the decode half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from focalcli.model.bsq import BinarySphericalQuantizer
from focalcli.model.decoders import DecoderState, Vocos, WaveNeXt
from focalcli.model.focalnet import FocalDecoder, FocalEncoder, LayerState
from focalcli.model.wavlm import WavLM, WavLMState

MODULES: dict[str, type[nn.Module]] = {
    "WavLM": WavLM,
    "FocalEncoder": FocalEncoder,
    "BinarySphericalQuantizer": BinarySphericalQuantizer,
    "FocalDecoder": FocalDecoder,
    "WaveNeXt": WaveNeXt,
    "Vocos": Vocos,
}
ROLES = ("encoder", "compressor", "quantizer", "decompressor", "decoder")


@dataclass
class EncodeState:
    encoder: WavLMState | None = None
    compressor: list[LayerState] | None = None

    def tensors(self) -> list[Tensor]:
        out = self.encoder.tensors() if self.encoder else []
        return out + [t for layer in self.compressor or [] for t in layer if t is not None]


@dataclass
class DecodeState:
    decompressor: list[LayerState] | None = None
    decoder: DecoderState | None = None

    def tensors(self) -> list[Tensor]:
        out = [t for layer in self.decompressor or [] for t in layer if t is not None]
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
        self.encoder: WavLM
        self.compressor: FocalEncoder
        self.quantizer: BinarySphericalQuantizer
        self.decompressor: FocalDecoder
        self.decoder: WaveNeXt | Vocos
        bits = self.quantizer.dim
        compressor_out = self.compressor.out_proj.out_features
        decompressor_in = self.decompressor.in_proj.in_features
        if not compressor_out == bits == decompressor_in:
            raise ValueError(f"codebook_size {self.quantizer.codebook_size} needs {bits}-dim "
                             f"latents, but compressor output_dim is {compressor_out} and "
                             f"decompressor input_dim is {decompressor_in}")
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
    def samples_per_token_input(self) -> int:
        return self.encoder.downsample_factor

    @property
    def samples_per_token_output(self) -> int:
        return self.decoder.hop_length

    @property
    def token_rate(self) -> float:
        """Tokens per second."""
        return self.sample_rate_input / self.encoder.downsample_factor

    @property
    def bits_per_token(self) -> int:
        return self.quantizer.dim

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    @property
    def bitrate_kbps(self) -> float:
        return self.token_rate * self.bits_per_token / 1000

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
        return self.encoder.chunk_frames

    @property
    def latency_ms(self) -> float | None:
        """Algorithmic latency: the input a chunk must gather before it is coded (causal only)."""
        return 1000.0 * self.chunk_size / self.sample_rate_input if self.causal else None

    def num_parameters(self) -> dict[str, int]:
        return {role: sum(p.numel() for p in getattr(self, role).parameters()) for role in ROLES}

    # -- conversions -----------------------------------------------------------------------------
    def sig_to_feats(self, sig: Tensor, state: WavLMState | None = None
                     ) -> tuple[Tensor, WavLMState | None]:
        return self.encoder(sig, state)

    def feats_to_lats(self, feats: Tensor, state: list[LayerState] | None = None
                      ) -> tuple[Tensor, list[LayerState]]:
        lats, state = self.compressor(feats, state)
        return nn.functional.normalize(lats, dim=-1), state

    def lats_to_toks(self, lats: Tensor) -> Tensor:
        return self.quantizer.lats_to_toks(lats)

    def lats_to_codes(self, lats: Tensor) -> Tensor:
        return self.quantizer.lats_to_codes(lats)

    def toks_to_codes(self, toks: Tensor) -> Tensor:
        return self.quantizer.toks_to_codes(toks)

    def codes_to_toks(self, codes: Tensor) -> Tensor:
        return self.quantizer.codes_to_toks(codes)

    def codes_to_qfeats(self, codes: Tensor, state: list[LayerState] | None = None
                        ) -> tuple[Tensor, list[LayerState]]:
        return self.decompressor(codes, state)

    def qfeats_to_sig(self, qfeats: Tensor, state: DecoderState | None = None
                      ) -> tuple[Tensor, DecoderState]:
        return self.decoder(qfeats, state)

    def sig_to_toks(self, sig: Tensor, state: EncodeState | None = None
                    ) -> tuple[Tensor, EncodeState]:
        """(B, N) samples -> (B, T) tokens. Streaming: N a multiple of ``chunk_size``."""
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
        return self.codes_to_sig(self.toks_to_codes(toks), state)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, bits_per_token={self.bits_per_token}"

