"""Where decoded audio goes: an audio file (WAV, FLAC) or raw PCM on a binary stream.

A sink takes float32 blocks shaped (channels, n); values outside [-1, 1] are clipped.
(A speaker sink will join these for `focal play`.) A write that fails in the operating system
(a full disk) raises that OSError, errno and all, not a libsndfile error without a cause.
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


class _KeepWriteError:
    """A seekable binary file for libsndfile's virtual I/O that keeps the first OSError of a
    write (libsndfile only sees a short write and reports a "System error" without errno)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._fh.write(data)
        except OSError as err:
            if self.error is None:
                self.error = err
            return 0

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class SoundFileSink(AudioSink):
    """A WAV or FLAC file written with soundfile, to a path or a seekable binary file.

    A path is opened here, so that a failing write (ENOSPC, EDQUOT, EFBIG) comes out as the
    OSError it was.
    """

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
        self._fmt = fmt
        self._file: _KeepWriteError | None = None
        target: str | os.PathLike[str] | BinaryIO | _KeepWriteError = file
        if isinstance(file, (str, os.PathLike)):
            self._file = _KeepWriteError(open(file, "w+b"))  # noqa: SIM115 - closed in close()
            target = self._file
        try:
            self._sf = sf.SoundFile(target, "w", samplerate=sample_rate, channels=channels,
                                    format=major, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
            if self._file is not None:
                self._file.close()
                if self._file.error is not None:
                    raise self._file.error from None
            raise AudioError(f"cannot write {fmt.upper()} ({err})") from err

    def _failed(self, err: Exception) -> Exception:
        """The error to raise for a failed libsndfile call: the OSError behind it if known."""
        if self._file is not None and self._file.error is not None:
            return self._file.error
        return AudioError(f"cannot write {self._fmt.upper()} ({err or type(err).__name__})")

    def write(self, sig: np.ndarray) -> None:
        import soundfile as sf

        if sig.shape[1]:
            try:
                self._sf.write(np.clip(sig, -1.0, 1.0).T)
            except (sf.LibsndfileError, RuntimeError, AssertionError) as err:
                raise self._failed(err) from None
            if self._file is not None and self._file.error is not None:
                raise self._file.error

    def close(self) -> None:
        import soundfile as sf

        try:
            if not self._sf.closed:
                self._sf.close()
            if self._file is not None:
                self._file.flush()
        except (sf.LibsndfileError, RuntimeError, AssertionError) as err:
            raise self._failed(err) from None
        finally:
            if self._file is not None:
                self._file.close()
        if self._file is not None and self._file.error is not None:
            raise self._file.error


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
    is dropped, and `finish(length)` fills any that is missing by repeating the last sample
    written (silence if none was), as the reference decoder pads to its output length.
    """

    def __init__(self, sink: AudioSink, channels: int, hold: int) -> None:
        self.sink = sink
        self.sample_rate = sink.sample_rate
        self.channels = channels
        self.hold = hold
        self.written = 0
        self.pending = np.zeros((channels, 0), dtype=np.float32)
        self.last = np.zeros((channels, 1), dtype=np.float32)  # last sample written

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
            fill = np.zeros((self.channels, length - self.written), np.float32)
            self.pending = fill + self.last
            self._emit(self.pending.shape[1], drop_rest=True)

    def _emit(self, count: int, drop_rest: bool) -> int:
        if count:
            self.sink.write(self.pending[:, :count])
            self.last = self.pending[:, count - 1 : count].copy()
            self.written += count
        self.pending = self.pending[:, :0] if drop_rest else self.pending[:, count:]
        return count
