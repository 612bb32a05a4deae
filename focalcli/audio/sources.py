"""Where audio comes from: a file soundfile can read (path or bytes), or raw PCM on a stream.

A source has a sample rate, a channel count and, when known, a length; it yields float32
blocks shaped (channels, n) in [-1, 1]. (A microphone source will join these for `focal stream`.)

Nothing in a file is trusted: NaN and infinite samples become 0 and float samples beyond
full scale are clipped to it, and the source counts both, and the runs of integer samples stuck
at full scale (clipped input); :func:`input_warnings` turns the counts into the one warning
each that the command prints. A WAV whose data size field is 0 (left so by streaming writers)
is read to the end of the file or stream.
"""

from __future__ import annotations

import io
import os
import struct
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


#: magnitude from which an input sample counts as full scale (the largest 16-bit value is
#: 32767/32768 = 0.99997)
FULL_SCALE = 0.9999


def input_warnings(source: AudioSource) -> list[str]:
    """What a user should hear about the samples a source gave (once each), e.g.
    "100 NaN or infinite samples were read as 0"; [] if nothing."""
    inner = getattr(source, "inner", None)
    if isinstance(inner, AudioSource):  # a wrapper (e.g. real-time pacing): the real source
        source = inner
    out = []
    if source.nonfinite_samples:
        out.append(f"{source.nonfinite_samples} NaN or infinite sample(s) read as 0")
    if source.beyond_full_scale:
        out.append(f"{source.beyond_full_scale} sample(s) beyond full scale (+-1) clipped")
    if source.clipped_samples:
        out.append(f"{source.clipped_samples} sample(s) stuck at full scale: the input is "
                   "probably clipped")
    return out


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
    #: samples (all channels) so far that were NaN or infinite, given out as 0
    nonfinite_samples: int = 0
    #: samples so far beyond full scale (float input), given out clipped to +-1
    beyond_full_scale: int = 0
    #: samples so far at full scale next to one at the same extreme (a clipped input)
    clipped_samples: int = 0

    def _checked(self, sig: np.ndarray) -> np.ndarray:
        """float32 (channels, n) with NaN/inf -> 0 and values beyond +-1 clipped, counted."""
        finite = np.isfinite(sig)
        if not finite.all():
            self.nonfinite_samples += int(finite.size - np.count_nonzero(finite))
            sig = np.where(finite, sig, np.float32(0.0)).astype(np.float32)
        mag = np.abs(sig)
        over = int(np.count_nonzero(mag > 1.0))
        if over:
            self.beyond_full_scale += over
            sig = np.clip(sig, -1.0, 1.0)
            mag = np.abs(sig)
        elif sig.shape[1] > 1:
            top = mag >= FULL_SCALE
            stuck = top[:, 1:] & top[:, :-1] & (np.sign(sig[:, 1:]) == np.sign(sig[:, :-1]))
            self.clipped_samples += int(np.count_nonzero(stuck))
        return sig

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

        self._patched: _PatchedReader | None = None
        if isinstance(file, (str, os.PathLike)):
            self._patched = _open_ended_wav(file)
        try:
            self._sf = sf.SoundFile(self._patched or file, "r")
        except sf.LibsndfileError as err:
            raise AudioError(f"not a readable audio file ({_sndfile_reason(err)})") from err
        except (RuntimeError, TypeError, ValueError) as err:
            raise AudioError(f"not a readable audio file ({err})") from err
        finally:
            if self._patched is not None and not hasattr(self, "_sf"):
                self._patched.close()
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
            yield self._checked(np.ascontiguousarray(data.T))
            if data.shape[0] < frames:
                return

    def close(self) -> None:
        try:
            self._sf.close()
        except Exception:  # noqa: BLE001 - closing a broken file must not mask the real error
            pass
        if self._patched is not None:
            self._patched.close()


#: how far into a WAV the data chunk is looked for
_WAV_HEAD_BYTES = 1 << 16


def _open_ended_patch(head: bytes, total: int) -> dict[int, bytes] | None:
    """For a RIFF/WAVE whose data chunk size field is 0 (a streaming writer that could not
    seek back; libsndfile reads such a file as empty): the bytes to put at which offsets so
    that the data chunk runs to the end of the `total` bytes. None for anything else."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"data":
            rest = total - (pos + 8)
            if size != 0 or rest <= 0:
                return None
            return {4: struct.pack("<I", min(total - 8, 0xFFFFFFFF)),
                    pos + 4: struct.pack("<I", min(rest, 0xFFFFFFFF))}
        pos += 8 + size + (size & 1)
    return None


def _patched_bytes(data: bytes) -> bytes:
    patch = _open_ended_patch(data[:_WAV_HEAD_BYTES], len(data))
    if patch is None:
        return data
    out = bytearray(data)
    for offset, value in patch.items():
        out[offset : offset + len(value)] = value
    return bytes(out)


class _PatchedReader:
    """A read-only file whose bytes at a few offsets are replaced (for libsndfile's virtual
    I/O: read, seek, tell)."""

    def __init__(self, fh: BinaryIO, patch: dict[int, bytes]) -> None:
        self._fh = fh
        self._patch = patch

    def read(self, size: int = -1) -> bytes:
        start = self._fh.tell()
        data = self._fh.read(size)
        if not any(start < off + len(val) and off < start + len(data)
                   for off, val in self._patch.items()):
            return data
        out = bytearray(data)
        for off, val in self._patch.items():
            for i, byte in enumerate(val):
                if 0 <= off + i - start < len(out):
                    out[off + i - start] = byte
        return bytes(out)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()


def _open_ended_wav(path: str | os.PathLike[str]) -> _PatchedReader | None:
    """A patched reader over an open-ended WAV file (see :func:`_open_ended_patch`), else None."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - handed to the reader or closed here
    except OSError:
        return None  # libsndfile says why
    try:
        head = fh.read(_WAV_HEAD_BYTES)
        patch = _open_ended_patch(head, os.fstat(fh.fileno()).st_size)
    except OSError:
        patch = None
    if patch is None:
        fh.close()
        return None
    fh.seek(0)
    return _PatchedReader(fh, patch)


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
    if not os.path.isfile(path):  # a FIFO or device named on purpose: read what it gives
        try:
            with open(path, "rb") as fh:
                return open_audio_bytes(fh.read(), os.fspath(path))
        except OSError as err:
            raise AudioError(err.strerror or str(err)) from None
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
    return SoundFileSource(io.BytesIO(_patched_bytes(data)), name=name)


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
                yield self._checked(self.fmt.bytes_to_sig(data[:whole], self.channels))
            pending = data[whole:]
            if not chunk:
                self.stray_bytes = len(pending)
                return

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()
