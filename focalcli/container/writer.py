"""Streaming .fcs writer: header first, packets as they fill, end marker on close. Never seeks."""

from __future__ import annotations

from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from . import bitpack
from .errors import FcsValueError
from .fcs import (
    DATA_SYNC,
    END_SYNC,
    FcsHeader,
    compact_check,
    encode_header,
    encode_optional_count,
    encode_varint,
    frame_packet,
    tokens_for_samples,
)


class FcsWriter:
    """Writes one .fcs stream of tokens to a binary stream.

    The header is written at construction. :meth:`write` buffers tokens and emits a data packet
    each time ``header.packet_tokens`` tokens per channel are available; :meth:`close` writes the
    remaining (< packet_tokens) tokens inside the end marker. The output depends only on the
    header, the token sequence and the final sample count, not on how the tokens were split
    between :meth:`write` calls, so streaming and offline encoding give identical bytes.

    Used as a context manager, the end marker is written on normal exit only: after an exception
    the stream is left without one, so readers report it as truncated.

    A ladder header (``groups`` > 1) takes tokens of shape (channels, n, g): g tokens per
    frame, 1 <= g <= groups, and g may change from one call to the next. A packet carries the
    lowest g of its frames (the others' extra tokens are dropped), so a rung change takes
    effect at a packet boundary: at once for live packets of one chunk, at the next packet
    for files.

    Args:
        stream: binary stream with ``write`` (and ``flush``); the writer never seeks or closes it.
        header: stream parameters; ``header.num_samples`` may be None (live) and given at close.
        flush_each_packet: flush ``stream`` after every packet (live pipes, growing files).
    """

    def __init__(
        self, stream: BinaryIO, header: FcsHeader, flush_each_packet: bool = False
    ) -> None:
        self.header = header
        self._stream = stream
        self._flush_each_packet = flush_each_packet
        self._pending: npt.NDArray[np.int64] = np.zeros((header.channels, 0, header.groups),
                                                        dtype=np.int64)
        self._pending_groups: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._tokens = 0
        self._seq = 0
        self._packets = 0
        self._bytes = 0
        self._closed = False
        self._emit(encode_header(header))
        if flush_each_packet:
            self.flush()

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the stream so far (header and packets)."""
        return self._bytes

    @property
    def packets_written(self) -> int:
        """Packets written so far, data packets and end marker."""
        return self._packets

    @property
    def tokens_written(self) -> int:
        """Tokens per channel accepted so far, including those still buffered."""
        return self._tokens

    def write(self, toks: npt.ArrayLike) -> None:
        """Append tokens.

        Args:
            toks: integer array of shape (channels, n), or (n,) when channels == 1, every value in
                ``0 .. 2**bits_per_token - 1``. n may be 0. With a ladder header (groups > 1):
                (channels, n, g), 1 <= g <= groups.

        Raises:
            FcsValueError: wrong shape or dtype, a token out of range, or writer closed.
        """
        if self._closed:
            raise FcsValueError("write() on a closed FcsWriter")
        arr = self._check_tokens(toks)
        n, g = arr.shape[1], arr.shape[2]
        self._tokens += n
        full = np.zeros((arr.shape[0], n, self.header.groups), dtype=np.int64)
        full[:, :, :g] = arr
        pending = np.concatenate((self._pending, full), axis=1)
        groups = np.concatenate((self._pending_groups, np.full(n, g, dtype=np.int64)))
        n_full = pending.shape[1] // self.header.packet_tokens
        if n_full:
            cut = n_full * self.header.packet_tokens
            self._write_data_packets(pending[:, :cut], groups[:cut])
            pending, groups = pending[:, cut:], groups[cut:]
        self._pending, self._pending_groups = pending, groups

    def flush(self) -> None:
        """Flush the underlying stream (tokens short of a full packet stay buffered)."""
        self._stream.flush()

    def close(self, num_samples: int | None = None) -> None:
        """Write the end marker (with the buffered tail tokens) and flush. Idempotent.

        Args:
            num_samples: samples per channel at ``source_sample_rate`` to record in the end
                marker; defaults to ``header.num_samples`` (None = unknown).

        Raises:
            FcsValueError: the count needs more tokens than were written (a reader would not
                trust such an end marker; one token of rounding is allowed).
        """
        if self._closed:
            return
        if num_samples is None:
            num_samples = self.header.num_samples
        elif isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
            raise FcsValueError(f"number of samples must be an integer >= 0, got {num_samples!r}")
        if num_samples is not None and tokens_for_samples(self.header, num_samples) > (
                self._tokens + 1):
            raise FcsValueError(
                f"{num_samples} samples need {tokens_for_samples(self.header, num_samples)} "
                f"tokens per channel, but only {self._tokens} were written")
        g = int(self._pending_groups.min()) if self._pending_groups.size else 1
        body = bytes((g,)) if self.header.version >= 3 else b""
        body += encode_varint(self._tokens) + encode_varint(encode_optional_count(num_samples))
        body += bitpack.pack(self._pending[:, :, :g].reshape(-1), self.header.bits_per_token)
        self._emit(frame_packet(END_SYNC, self._seq, body))
        self._packets += 1
        self._closed = True
        self.flush()

    def __enter__(self) -> FcsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True

    def _write_data_packets(self, toks: npt.NDArray[np.int64],
                            groups: npt.NDArray[np.int64]) -> None:
        """Frame and write full packets; toks (channels, k * packet_tokens, header.groups),
        groups (k * packet_tokens,) the rung of each frame."""
        h = self.header
        channels, n, _ = toks.shape
        per_packet = h.packet_tokens
        count = n // per_packet
        # One row per packet, channel-major inside the row: all of channel 0 (frame by frame,
        # each frame's groups in order), then channel 1...
        packets = toks.reshape(channels, count, per_packet, h.groups).transpose(1, 0, 2, 3)
        rungs = groups.reshape(count, per_packet).min(axis=1)
        frames = []
        for rung in np.unique(rungs):
            g = int(rung)
            rows = packets[rungs == rung][..., :g].reshape(-1, channels * per_packet * g)
            for index, payload in zip(np.flatnonzero(rungs == rung),
                                      bitpack.pack_rows(rows, h.bits_per_token), strict=True):
                frames.append((int(index), self._frame(self._seq + int(index), g,
                                                       payload.tobytes())))
        frames.sort()
        self._seq += count
        self._packets += count
        if self._flush_each_packet:
            for _, frame in frames:
                self._emit(frame)
                self.flush()
        else:
            self._emit(b"".join(frame for _, frame in frames))

    def _frame(self, seq: int, groups: int, payload: bytes) -> bytes:
        """One data packet of rung `groups` in the header's framing (docs/fcs-format.md)."""
        if self.header.framing == "compact":
            return payload + bytes((compact_check(seq, groups, payload),))
        if self.header.version >= 3:
            return frame_packet(DATA_SYNC, seq, bytes((groups,)) + payload)
        return frame_packet(DATA_SYNC, seq, payload)

    def _emit(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._stream.write(view)
            if n is None:  # non-blocking raw stream that could not take anything yet
                n = 0
            view = view[n:]
        self._bytes += len(data)

    def _check_tokens(self, toks: npt.ArrayLike) -> npt.NDArray[np.int64]:
        arr = np.asarray(toks)
        channels, groups = self.header.channels, self.header.groups
        if groups == 1:
            if arr.ndim == 1 and channels == 1:
                arr = arr.reshape(1, -1)
            if arr.ndim != 2 or arr.shape[0] != channels:
                raise FcsValueError(f"tokens must have shape ({channels}, n), got {arr.shape}")
            arr = arr[:, :, None]
        elif arr.ndim != 3 or arr.shape[0] != channels or not 1 <= arr.shape[2] <= groups:
            raise FcsValueError(f"tokens must have shape ({channels}, n, g) with 1 <= g <= "
                                f"{groups}, got {arr.shape}")
        try:
            bitpack.check_tokens(arr, self.header.bits_per_token)
        except ValueError as e:
            raise FcsValueError(f"{e} per token") from None
        return arr.astype(np.int64)
