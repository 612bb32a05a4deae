"""Where audio comes from: a file soundfile can read (path or bytes), or raw PCM on a stream.

A source has a sample rate, a channel count and, when known, a length; it yields float32
blocks shaped (channels, n). (A microphone source will join these for `focal stream`.)
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from focalcli.audio.pcm import PcmFormat

#: extensions taken from folders by `focal encode DIR -d OUT` (what libsndfile commonly reads)
AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".sph", ".nist",
})


class AudioError(Exception):
    """Input that is missing, unreadable or not audio; the message is one line."""


class AudioSource(ABC):
    """A readable audio signal. Blocks are float32 (channels, n), n <= the requested size."""

    sample_rate: int
    channels: int
    #: total frames if known in advance (files), None for streams
    num_frames: int | None = None
    #: short human description, e.g. "FLAC PCM_16 44100 Hz 2 ch"
    description: str = ""

    @abstractmethod
    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Yield the signal in blocks of `frames` frames (the last one may be shorter)."""

    def read_all(self) -> np.ndarray:
        """The whole signal, float32 (channels, n)."""
        parts = list(self.blocks(1 << 20))
        if not parts:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return np.concatenate(parts, axis=1)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the underlying file."""

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SoundFileSource(AudioSource):
    """Anything libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, AIFF, MP3, ...), by path or bytes."""

    def __init__(self, file: str | os.PathLike[str] | BinaryIO, name: str) -> None:
        import soundfile as sf

        try:
            self._sf = sf.SoundFile(file, "r")
        except sf.LibsndfileError as err:
            raise AudioError(f"not a readable audio file ({_sndfile_reason(err)})") from err
        except (RuntimeError, TypeError, ValueError) as err:
            raise AudioError(f"not a readable audio file ({err})") from err
        self.name = name
        self.sample_rate = int(self._sf.samplerate)
        self.channels = int(self._sf.channels)
        frames = int(self._sf.frames)
        self.num_frames = frames if frames >= 0 else None
        self.description = (f"{self._sf.format} {self._sf.subtype} {self.sample_rate} Hz "
                            f"{self.channels} ch")
        if self.sample_rate <= 0 or self.channels <= 0:
            self.close()
            raise AudioError("audio header has no sample rate or no channels")

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        import soundfile as sf

        while True:
            try:
                data = self._sf.read(frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(f"cannot decode audio data ({err})") from err
            if data.shape[0] == 0:
                return
            yield np.ascontiguousarray(data.T)
            if data.shape[0] < frames:
                return

    def close(self) -> None:
        try:
            self._sf.close()
        except Exception:  # noqa: BLE001 - closing a broken file must not mask the real error
            pass


def _sndfile_reason(err: Exception) -> str:
    text = str(err)
    # "Error opening 'x.wav': Format not recognised." -> "Format not recognised"; the same for
    # streams, which soundfile names by their repr ("Error opening <_io.BytesIO ...>: ...").
    for sep in ("': ", ">: "):
        if sep in text:
            text = text.split(sep, 1)[1]
            break
    return text.strip().rstrip(".") or "unknown format"


def _check_readable(path: str | os.PathLike[str]) -> None:
    if not os.path.exists(path):
        raise AudioError("no such file")
    if os.path.isdir(path):
        raise AudioError("is a directory")
    if not os.access(path, os.R_OK):
        raise AudioError("permission denied")


def open_audio_file(path: str | os.PathLike[str]) -> SoundFileSource:
    """A file source; AudioError for a missing file, a folder, or data that is not audio."""
    _check_readable(path)
    if os.path.getsize(path) == 0:
        raise AudioError("empty file (0 bytes), not audio")
    return SoundFileSource(os.fspath(path), name=os.fspath(path))


def open_raw_file(path: str | os.PathLike[str], sample_rate: int, channels: int,
                  fmt: PcmFormat) -> RawPcmSource:
    """A source over a file of headerless PCM; AudioError if it cannot be read."""
    _check_readable(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed with the source
    except OSError as err:
        raise AudioError(err.strerror or str(err)) from None
    return RawPcmSource(stream, sample_rate, channels, fmt, owns_stream=True)


def open_audio_bytes(data: bytes, name: str) -> SoundFileSource:
    """A source over an in-memory audio file (e.g. a WAV read from stdin)."""
    if not data:
        raise AudioError("no data (0 bytes), not audio")
    return SoundFileSource(io.BytesIO(data), name=name)


class RawPcmSource(AudioSource):
    """Headerless interleaved PCM read from a binary stream as it arrives.

    A trailing partial frame is dropped; `stray_bytes` says how many bytes that was.
    """

    def __init__(self, stream: BinaryIO, sample_rate: int, channels: int, fmt: PcmFormat,
                 owns_stream: bool = False) -> None:
        if sample_rate <= 0:
            raise AudioError(f"raw PCM sample rate must be positive, not {sample_rate}")
        if channels <= 0:
            raise AudioError(f"raw PCM channel count must be positive, not {channels}")
        self._stream = stream
        self._owns_stream = owns_stream
        self.sample_rate = sample_rate
        self.channels = channels
        self.fmt = fmt
        self.stray_bytes = 0
        self.description = f"raw PCM {fmt.name}-bit {sample_rate} Hz {channels} ch"

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """Blocks of at most `frames` frames, as soon as they arrive (a live pipe streams)."""
        frame_bytes = self.fmt.frame_bytes(self.channels)
        want = frames * frame_bytes
        pending = b""
        read = getattr(self._stream, "read1", self._stream.read)
        while True:
            chunk = read(want - len(pending))
            data = pending + chunk
            whole = len(data) - len(data) % frame_bytes
            if whole:
                yield self.fmt.bytes_to_sig(data[:whole], self.channels)
            pending = data[whole:]
            if not chunk:
                self.stray_bytes = len(pending)
                return

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()
