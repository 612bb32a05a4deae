"""Raw PCM sample formats (little-endian, interleaved) and their float32 conversions.

Names, as given to `--bits`: ``8`` (unsigned, as in WAV), ``16``, ``24``, ``32`` (signed
integers) and ``32f`` (IEEE float). Integers map to floats by dividing by 2**(bits-1) (after
removing the 128 offset for 8-bit); floats are clipped to [-1, 1) on the way back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PcmFormat:
    """One raw sample format. `subtype` is the soundfile subtype for WAV/FLAC output."""

    name: str
    bytes_per_sample: int
    is_float: bool
    subtype: str

    @property
    def bits(self) -> int:
        return 8 * self.bytes_per_sample

    def frame_bytes(self, channels: int) -> int:
        return self.bytes_per_sample * channels

    def bytes_to_sig(self, data: bytes, channels: int) -> np.ndarray:
        """Interleaved PCM bytes (a whole number of frames) -> float32 (channels, n)."""
        nbytes = self.bytes_per_sample
        if self.is_float:
            flat = np.frombuffer(data, dtype="<f4").astype(np.float32)
        elif nbytes == 1:
            flat = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
        elif nbytes == 3:
            raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
            ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
            flat = ints.astype(np.float32) / float(1 << 23)
        else:
            dtype = "<i2" if nbytes == 2 else "<i4"
            flat = (np.frombuffer(data, dtype=dtype).astype(np.float64)
                    / float(1 << (self.bits - 1))).astype(np.float32)
        return np.ascontiguousarray(flat.reshape(-1, channels).T)

    def sig_to_bytes(self, sig: np.ndarray) -> bytes:
        """float32 (channels, n) -> interleaved PCM bytes; out-of-range values are clipped."""
        inter = np.asarray(sig, dtype=np.float32).T.reshape(-1)
        if self.is_float:
            return inter.astype("<f4").tobytes()
        scale = float(1 << (self.bits - 1))
        ints = np.clip(np.round(inter.astype(np.float64) * scale), -scale, scale - 1)
        if self.bytes_per_sample == 1:
            return (ints + 128).astype(np.uint8).tobytes()
        if self.bytes_per_sample == 3:
            i32 = ints.astype("<i4")
            return i32.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        return ints.astype("<i2" if self.bytes_per_sample == 2 else "<i4").tobytes()


PCM_FORMATS: dict[str, PcmFormat] = {
    "8": PcmFormat("8", 1, False, "PCM_U8"),
    "16": PcmFormat("16", 2, False, "PCM_16"),
    "24": PcmFormat("24", 3, False, "PCM_24"),
    "32": PcmFormat("32", 4, False, "PCM_32"),
    "32f": PcmFormat("32f", 4, True, "FLOAT"),
}


def parse_pcm_format(name: str) -> PcmFormat:
    """The format for a `--bits` value; ValueError names the accepted ones."""
    try:
        return PCM_FORMATS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown sample format {name!r} (use one of: "
                         f"{', '.join(PCM_FORMATS)})") from None
