"""Where decoded audio goes: an audio file (WAV, FLAC) or raw PCM on a binary stream.

A sink takes float32 blocks shaped (channels, n); values outside [-1, 1] are clipped.
(A speaker sink will join these for `focal play`.)
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import BinaryIO

import numpy as np

from focalcli.audio.pcm import PcmFormat
from focalcli.audio.sources import AudioError

#: file formats `focal decode` writes, by extension -> soundfile format name
FILE_FORMATS: dict[str, str] = {"wav": "WAV", "flac": "FLAC"}
#: all output formats, including headerless PCM
OUTPUT_FORMATS: tuple[str, ...] = ("wav", "flac", "raw")


def sink_format_for(path: str, explicit: str | None) -> str | None:
    """The output format: `explicit` if given, else from the extension of `path` (or None)."""
    if explicit:
        return explicit.lower()
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in FILE_FORMATS or ext in ("raw", "pcm"):
        return "raw" if ext == "pcm" else ext
    return None


class AudioSink(ABC):
    """An audio destination with a fixed rate and channel count."""

    sample_rate: int
    channels: int

    @abstractmethod
    def write(self, sig: np.ndarray) -> None:
        """Append float32 (channels, n)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Finish the output (write trailers, flush)."""

    def __enter__(self) -> AudioSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SoundFileSink(AudioSink):
    """A WAV or FLAC file written with soundfile, to a path or a seekable binary file."""

    def __init__(self, file: str | os.PathLike[str] | BinaryIO, fmt: str, sample_rate: int,
                 channels: int, pcm: PcmFormat) -> None:
        import soundfile as sf

        major = FILE_FORMATS[fmt]
        subtype = pcm.subtype
        if major == "FLAC":
            if pcm.is_float or pcm.bits > 24:
                raise AudioError(f"FLAC cannot store {pcm.name}-bit samples (use 8, 16 or 24)")
            if pcm.bits == 8:
                subtype = "PCM_S8"
        if major == "WAV" and channels > 2:
            major = "WAVEX"
        self.sample_rate = sample_rate
        self.channels = channels
        try:
            self._sf = sf.SoundFile(file, "w", samplerate=sample_rate, channels=channels,
                                    format=major, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise AudioError(f"cannot write {fmt.upper()} ({err})") from err

    def write(self, sig: np.ndarray) -> None:
        if sig.shape[1]:
            self._sf.write(np.clip(sig, -1.0, 1.0).T)

    def close(self) -> None:
        self._sf.close()


class RawPcmSink(AudioSink):
    """Headerless interleaved little-endian PCM to a binary stream (e.g. stdout)."""

    def __init__(self, stream: BinaryIO, sample_rate: int, channels: int, pcm: PcmFormat) -> None:
        self._stream = stream
        self.sample_rate = sample_rate
        self.channels = channels
        self.pcm = pcm

    def write(self, sig: np.ndarray) -> None:
        if sig.shape[1]:
            self._stream.write(self.pcm.sig_to_bytes(sig))

    def close(self) -> None:
        self._stream.flush()


class ExactLength(AudioSink):
    """Passes audio to `sink` so that it ends at exactly a length that may be known late.

    `put(sig, length)` takes float32 (channels, n) and the total length if known by now;
    while it is unknown, the last `hold` samples are held back. Once known, audio beyond it
    is dropped, and `finish(length)` writes silence for any that is missing.
    """

    def __init__(self, sink: AudioSink, channels: int, hold: int) -> None:
        self.sink = sink
        self.sample_rate = sink.sample_rate
        self.channels = channels
        self.hold = hold
        self.written = 0
        self.pending = np.zeros((channels, 0), dtype=np.float32)

    def put(self, sig: np.ndarray, length: int | None) -> int:
        """Add samples; write what is certain; return how many samples were written."""
        self.pending = np.concatenate([self.pending, sig], axis=1)
        if length is None:
            ready = max(0, self.pending.shape[1] - self.hold)
        else:
            ready = max(0, min(self.pending.shape[1], length - self.written))
        return self._emit(ready, drop_rest=length is not None)

    def write(self, sig: np.ndarray) -> None:
        self.put(sig, None)

    def finish(self, length: int | None) -> None:
        if length is None:
            self._emit(self.pending.shape[1], drop_rest=True)
            return
        self._emit(max(0, min(self.pending.shape[1], length - self.written)), drop_rest=True)
        if self.written < length:
            self.pending = np.zeros((self.pending.shape[0], length - self.written), np.float32)
            self._emit(self.pending.shape[1], drop_rest=True)

    def _emit(self, count: int, drop_rest: bool) -> int:
        if count:
            self.sink.write(self.pending[:, :count])
            self.written += count
        self.pending = self.pending[:, :0] if drop_rest else self.pending[:, count:]
        return count
