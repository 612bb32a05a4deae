"""Streaming sessions: audio in pieces of any size -> tokens, tokens in any grouping -> audio.

An ``EncoderSession`` buffers samples until a whole chunk (``codec.chunk_size`` samples, 80 ms)
is there and codes every complete chunk at once; ``flush()`` zero-pads the last partial chunk.
A ``DecoderSession`` decodes tokens in whole groups of ``codec.chunk_tokens`` (the refiner works
on aligned groups of 4) and ``flush()`` decodes the last partial group. The tokens and samples
that come out do not depend on how the input was cut, and equal the offline result.

Both hold a bounded model state (the encoder's attention window and convolution contexts), so
memory stays flat over hours. ``batch_size`` streams advance in lockstep as one batch.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
import torch

from focalcli.model.codec import DecodeState, EncodeState, FocalCodec

# Largest number of chunks coded in one model call: bounds the attention matrix for long input.
MAX_CHUNKS_PER_CALL = 32
# Concealment of lost tokens: full level for the first CONCEAL_HOLD lost tokens (codes of the
# last good token repeated), then a linear fade to silence over CONCEAL_FADE tokens.
CONCEAL_HOLD = 2
CONCEAL_FADE = 10


def _as_batch(x: np.ndarray, batch_size: int, what: str, groups: int = 0) -> np.ndarray:
    """(n,) or (B, n) -> (B, n); with `groups` > 0 (tokens of a ladder model) (B, n, g) with
    1 <= g <= groups -> (B, n, groups), the missing groups as lost (-1): not sent."""
    x = np.asarray(x)
    if groups:
        if x.ndim != 3 or x.shape[0] != batch_size or not 1 <= x.shape[2] <= groups:
            raise ValueError(f"{what} must have shape ({batch_size}, n, g) with 1 <= g <= "
                             f"{groups}, got {x.shape}")
        if x.shape[2] < groups:
            pad = np.full((*x.shape[:2], groups - x.shape[2]), -1, dtype=np.int64)
            x = np.concatenate([x.astype(np.int64, copy=False), pad], axis=2)
        return x
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] != batch_size:
        raise ValueError(f"{what} must have shape ({batch_size}, n), got {x.shape}")
    return x


class _Session:
    def __init__(self, codec: FocalCodec, batch_size: int = 1) -> None:
        if not codec.causal:
            raise ValueError(f"model {codec.name!r} is not causal: it cannot stream")
        self.codec = codec
        self.batch_size = batch_size
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.reset()


class EncoderSession(_Session):
    """Samples (B, n) float at ``codec.sample_rate_input`` -> tokens (B, k) int64; a ladder
    model gives every group, (B, k, G).

    State: the partial chunk not yet coded (B, < chunk_size) and the model's ``EncodeState``.
    """

    def reset(self) -> None:
        self.state: EncodeState | None = None
        self.pending = np.zeros((self.batch_size, 0), dtype=np.float32)
        self.samples_in = 0

    def push(self, sig: np.ndarray) -> np.ndarray:
        """Add samples; return the tokens of every chunk completed by them (maybe none)."""
        sig = _as_batch(sig, self.batch_size, "sig").astype(np.float32, copy=False)
        self.samples_in += sig.shape[1]
        self.pending = np.concatenate([self.pending, sig], axis=1)
        chunk = self.codec.chunk_size
        whole = self.pending.shape[1] // chunk * chunk
        ready, self.pending = self.pending[:, :whole], self.pending[:, whole:]
        return self._code(ready)

    def flush(self) -> np.ndarray:
        """Zero-pad and code the last partial chunk; the session is then ready for a new stream."""
        chunk = self.codec.chunk_size
        tail = self.pending
        if tail.shape[1]:
            tail = np.pad(tail, ((0, 0), (0, chunk - tail.shape[1])))
        toks = self._code(tail)
        self.reset()
        return toks

    @torch.inference_mode()
    def _code(self, sig: np.ndarray) -> np.ndarray:
        step = self.codec.chunk_size * MAX_CHUNKS_PER_CALL
        groups = self.codec.num_groups
        empty = (self.batch_size, 0, groups) if groups > 1 else (self.batch_size, 0)
        out = [np.zeros(empty, dtype=np.int64)]
        for start in range(0, sig.shape[1], step):
            piece = torch.from_numpy(np.ascontiguousarray(sig[:, start : start + step]))
            toks, self.state = self.codec.sig_to_toks(piece, self.state)
            out.append(toks.numpy())
        return np.concatenate(out, axis=1)

    def state_numel(self) -> int:
        """Number of values in the model state (constant once the window is full)."""
        return sum(t.numel() for t in self.state.tensors()) if self.state else 0


class DecoderSession(_Session):
    """Tokens (B, k) int -> samples (B, m) float32 at ``codec.sample_rate_output``.

    A token < 0 marks a lost token: it is concealed (the last good token's code is repeated,
    then faded out, see ``CONCEAL_HOLD``/``CONCEAL_FADE``), keeping the output length right.
    A ladder model (``codec.num_groups`` G > 1) takes (B, k, g) tokens, g <= G, and g may
    change between calls: a frame is lost when its first group is; a later group < 0 was
    not sent (its codes are zero: the lower rung).
    State: tokens waiting to complete a group, the model's ``DecodeState``, and concealment
    counters (last good codes, lost-run length, last gain).
    """

    def reset(self) -> None:
        self.state: DecodeState | None = None
        self.groups = self.codec.num_groups if self.codec.num_groups > 1 else 0
        shape = (self.batch_size, 0, self.groups) if self.groups else (self.batch_size, 0)
        self.pending = np.zeros(shape, dtype=np.int64)
        dim = self.codec.bits_per_token * self.codec.num_groups
        self.last_codes = torch.zeros(self.batch_size, 1, dim)
        self.lost_run = np.zeros(self.batch_size, dtype=np.int64)
        self.seen_good = np.zeros(self.batch_size, dtype=bool)
        self.last_gain = np.ones(self.batch_size, dtype=np.float32)
        self.tokens_concealed = 0

    def push(self, toks: np.ndarray) -> np.ndarray:
        """Add tokens; return the samples of every complete group (maybe none)."""
        toks = _as_batch(toks, self.batch_size, "toks", self.groups).astype(np.int64, copy=False)
        if toks.size and int(toks.max()) >= self.codec.codebook_size:
            raise ValueError(f"token {int(toks.max())} out of range for a codebook of "
                             f"{self.codec.codebook_size}")
        self.pending = np.concatenate([self.pending, toks], axis=1)
        group = self.codec.chunk_tokens
        whole = self.pending.shape[1] // group * group
        ready, self.pending = self.pending[:, :whole], self.pending[:, whole:]
        return self._decode(ready)

    def flush(self) -> np.ndarray:
        """Decode the last partial group; the session is then ready for a new stream."""
        sig = self._decode(self.pending)
        self.reset()
        return sig

    @torch.inference_mode()
    def _decode(self, toks: np.ndarray) -> np.ndarray:
        step = self.codec.chunk_tokens * MAX_CHUNKS_PER_CALL
        out = [np.zeros((self.batch_size, 0), dtype=np.float32)]
        for start in range(0, toks.shape[1], step):
            piece = toks[:, start : start + step]
            codes, gains = self._codes_and_gains(piece)
            sig, self.state = self.codec.codes_to_sig(codes, self.state)
            sig_np = sig.numpy()
            if gains is not None:
                sig_np = sig_np * gains
            out.append(sig_np.astype(np.float32, copy=False))
        return np.concatenate(out, axis=1)

    def _codes_and_gains(self, toks: np.ndarray) -> tuple[torch.Tensor, np.ndarray | None]:
        """Codes for the tokens, with lost ones concealed, and a per-sample gain (or None)."""
        codes = self.codec.toks_to_codes(torch.from_numpy(np.where(toks < 0, 0, toks)))
        if self.groups:  # groups not sent: zero codes; a frame is lost with its first group
            unsent = torch.from_numpy(toks < 0).repeat_interleave(self.codec.bits_per_token,
                                                                  dim=2)
            codes = codes.masked_fill(unsent, 0.0)
            toks = toks[:, :, 0]
        lost = toks < 0
        if not lost.any() and not (self.last_gain < 1).any():
            if toks.shape[1]:
                self.last_codes = codes[:, -1:].clone()
                self.seen_good[:] = True
            self.lost_run[:] = 0
            return codes, None
        self.tokens_concealed += int(lost.sum())
        hop = self.codec.samples_per_token_output
        token_gain = np.ones(toks.shape, dtype=np.float32)
        for b in range(self.batch_size):
            for t in range(toks.shape[1]):
                if lost[b, t]:
                    codes[b, t] = self.last_codes[b, 0]
                    over = self.lost_run[b] - CONCEAL_HOLD + 1
                    fade = float(np.clip(1 - over / CONCEAL_FADE, 0, 1))
                    token_gain[b, t] = fade if self.seen_good[b] else 0.0
                    self.lost_run[b] += 1
                else:
                    self.last_codes[b, 0] = codes[b, t]
                    self.lost_run[b] = 0
                    self.seen_good[b] = True
        # Ramp linearly from each token's starting gain to its own, so level changes never click.
        starts = np.concatenate([self.last_gain[:, None], token_gain[:, :-1]], axis=1)
        ramp = np.linspace(0, 1, hop, endpoint=False, dtype=np.float32)
        gains = starts[..., None] + (token_gain - starts)[..., None] * ramp
        self.last_gain = token_gain[:, -1].copy()
        return codes, gains.reshape(self.batch_size, -1)

    def state_numel(self) -> int:
        return sum(t.numel() for t in self.state.tensors()) if self.state else 0
