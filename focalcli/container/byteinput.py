"""A pull buffer over a binary stream that reads only the bytes its caller asks for."""

from __future__ import annotations

import time
from typing import BinaryIO

_POLL_S = 0.05


class ByteInput:
    """Bytes pulled from a (possibly non-seekable) binary stream, kept until consumed.

    ``buf`` holds bytes read but not yet consumed; ``offset`` is the stream position of
    ``buf[0]``. :meth:`fill` asks the stream for exactly the missing bytes, looping over short
    reads, so a blocking pipe is never asked for more than the caller needs.

    Args:
        stream: binary stream with ``read(n)``; never seeked.
        follow: seconds to keep polling at end of input before treating it as final (for a file
            still being written, or a non-blocking stream whose ``read`` returns ``None``).
            0 means the first empty read is the end.
    """

    def __init__(self, stream: BinaryIO, follow: float = 0.0) -> None:
        self._stream = stream
        self._follow = follow
        self.buf = bytearray()
        self.offset = 0
        self.eof = False

    def fill(self, n: int) -> bool:
        """Make ``buf`` hold at least ``n`` bytes; False when the input ends first."""
        idle_since: float | None = None
        while len(self.buf) < n:
            if self.eof:
                return False
            chunk = self._stream.read(n - len(self.buf))
            if chunk:
                self.buf += chunk
                idle_since = None
                continue
            if self._follow > 0:
                now = time.monotonic()
                if idle_since is None:
                    idle_since = now
                if now - idle_since < self._follow:
                    time.sleep(min(_POLL_S, self._follow))
                    continue
            self.eof = True
        return True

    def consume(self, n: int) -> None:
        """Drop the first ``n`` buffered bytes."""
        del self.buf[:n]
        self.offset += n

    @property
    def position(self) -> int:
        """Stream offset just after the bytes read so far (consumed or buffered)."""
        return self.offset + len(self.buf)
