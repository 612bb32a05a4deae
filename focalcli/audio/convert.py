"""Channel mixing and sample-rate conversion (soxr, high quality) of float32 (channels, n)."""

from __future__ import annotations

import numpy as np

from focalcli.container.lengths import resampled_length

_QUALITY = "HQ"


def downmix(sig: np.ndarray) -> np.ndarray:
    """float32 (channels, n) -> (1, n), the average of the channels."""
    if sig.shape[0] == 1:
        return sig
    mixed: np.ndarray = sig.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    return mixed


#: samples that `num_samples` at `rate_from` Hz last at `rate_to` Hz (rounded half up): the
#: container's rule, :func:`focalcli.container.lengths.resampled_length`
scaled_length = resampled_length


def fit_length(sig: np.ndarray, num_samples: int) -> np.ndarray:
    """(channels, n) cut or zero-padded at the end to (channels, num_samples)."""
    n = sig.shape[1]
    if n == num_samples:
        return sig
    if n > num_samples:
        return sig[:, :num_samples]
    pad = np.zeros((sig.shape[0], num_samples - n), dtype=sig.dtype)
    return np.concatenate([sig, pad], axis=1)


def resample(sig: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """float32 (channels, n) at `rate_from` Hz -> (channels, scaled_length(n)) at `rate_to` Hz."""
    sig = np.asarray(sig, dtype=np.float32)
    if rate_from == rate_to:
        return sig
    target = scaled_length(sig.shape[1], rate_from, rate_to)
    if sig.shape[1] == 0:
        return np.zeros((sig.shape[0], 0), dtype=np.float32)
    import soxr

    out = soxr.resample(np.ascontiguousarray(sig.T), rate_from, rate_to, quality=_QUALITY)
    out = np.asarray(out, dtype=np.float32).reshape(-1, sig.shape[0]).T
    return fit_length(np.ascontiguousarray(out), target)


class StreamResampler:
    """Block-by-block resampling with state; the output totals `scaled_length` of the input.

    push(sig (channels, n)) -> (channels, m) at the output rate; flush() returns the tail.
    With equal rates it passes blocks through unchanged.
    """

    def __init__(self, rate_from: int, rate_to: int, channels: int) -> None:
        self.rate_from = rate_from
        self.rate_to = rate_to
        self.channels = channels
        self._seen_in = 0
        self._given_out = 0
        self._stream = None
        if rate_from != rate_to:
            import soxr

            self._stream = soxr.ResampleStream(rate_from, rate_to, channels,
                                               dtype="float32", quality=_QUALITY)

    def push(self, sig: np.ndarray) -> np.ndarray:
        self._seen_in += sig.shape[1]
        if self._stream is None:
            out = np.asarray(sig, dtype=np.float32)
        else:
            res = self._stream.resample_chunk(np.ascontiguousarray(sig.T, dtype=np.float32))
            out = np.ascontiguousarray(np.asarray(res).reshape(-1, self.channels).T)
        return self._limit(out)

    def flush(self) -> np.ndarray:
        """The rest of the output, padded or cut so the total is exactly scaled_length(input)."""
        if self._stream is not None:
            empty = np.zeros((0, self.channels), dtype=np.float32)
            res = self._stream.resample_chunk(empty, last=True)
            tail = np.ascontiguousarray(np.asarray(res).reshape(-1, self.channels).T)
        else:
            tail = np.zeros((self.channels, 0), dtype=np.float32)
        tail = self._limit(tail)
        missing = scaled_length(self._seen_in, self.rate_from, self.rate_to) - self._given_out
        if missing > 0:
            tail = fit_length(tail, tail.shape[1] + missing)
            self._given_out += missing
        return tail

    def _limit(self, out: np.ndarray) -> np.ndarray:
        room = scaled_length(self._seen_in, self.rate_from, self.rate_to) - self._given_out
        out = out[:, : max(0, room)]
        self._given_out += out.shape[1]
        return out
