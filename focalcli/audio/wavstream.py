"""A WAV arriving on a pipe, read as it arrives (an audio source like the file sources).

The header is parsed first, then samples are given out as they come, so
``arecord -f S16_LE -r 16000 | focal stream -`` streams; any other format on stdin is read
whole (:func:`focalcli.audio.open_audio_bytes`).
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Protocol

from focalcli.audio.pcm import PCM_FORMATS
from focalcli.audio.sources import AudioError, RawPcmSource

#: WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_EXTENSIBLE
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
#: data sizes that mean "unknown, read to the end" (streaming writers)
_OPEN_ENDED = (0, 0xFFFFFFFF)


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _LimitedStream:
    """At most ``limit`` bytes of ``stream`` (None: all of it); reads return what is there."""

    def __init__(self, stream: _Readable, limit: int | None) -> None:
        self._stream = stream
        self._left = limit

    def read(self, n: int = -1) -> bytes:
        if self._left is not None:
            n = self._left if n < 0 else min(n, self._left)
            if n == 0:
                return b""
        read1 = getattr(self._stream, "read1", None)
        data: bytes = read1(n) if read1 is not None else self._stream.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def open_wav_stream(stream: BinaryIO, head: bytes = b"") -> RawPcmSource:
    """A source over a WAV (PCM 8/16/24/32-bit or 32-bit float) read from a pipe as it arrives.

    `head`: bytes already taken from the stream (e.g. by sniffing). AudioError if the data is
    not a WAV focal can stream.
    """
    data = head + _read_exact(stream, max(0, 12 - len(head)))
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV stream")
    pos_data = data[12:]
    fmt: tuple[int, int, int, int] | None = None

    def take(n: int) -> bytes:
        nonlocal pos_data
        got, pos_data = pos_data[:n], pos_data[n:]
        return got + _read_exact(stream, n - len(got))

    while True:
        chunk_head = take(8)
        if len(chunk_head) < 8:
            raise AudioError("WAV stream ended before its data chunk")
        cid, size = chunk_head[:4], struct.unpack("<I", chunk_head[4:])[0]
        if cid == b"fmt ":
            body = take(size + (size & 1))
            if len(body) < 16:
                raise AudioError("WAV fmt chunk is too short")
            tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise AudioError("WAV data chunk before its fmt chunk")
            break
        else:
            take(size + (size & 1))
    tag, channels, rate, bits = fmt
    name = {(_PCM, 8): "8", (_PCM, 16): "16", (_PCM, 24): "24", (_PCM, 32): "32",
            (_FLOAT, 32): "32f"}.get((tag, bits))
    if name is None:
        raise AudioError(f"WAV sample format {tag}/{bits}-bit cannot be streamed "
                         "(use PCM 8/16/24/32-bit or 32-bit float)")
    limit = None if size in _OPEN_ENDED else size
    body_stream = _LimitedStream(_Prefixed(pos_data, stream), limit)
    source = RawPcmSource(body_stream, rate, channels, PCM_FORMATS[name])  # type: ignore[arg-type]
    source.description = f"WAV stream {name}-bit {rate} Hz {channels} ch"
    return source


class _Prefixed:
    """Bytes already read, then the rest of a stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read1(self, n: int = -1) -> bytes:
        if self._head:
            n = len(self._head) if n < 0 else n
            got, self._head = self._head[:n], self._head[n:]
            return got
        read1 = getattr(self._stream, "read1", None)
        return read1(n) if read1 is not None else self._stream.read(n)

    read = read1
