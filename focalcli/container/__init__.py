"""The .fcs container: bytes only (numpy and the standard library, never torch).

An .fcs stream is a header (model identity, token and sample rates, channels, packet size,
metadata; CRC-protected) followed by packets of MSB-first bit-packed tokens, each with a sync
pattern, a sequence number and a CRC-16, and an end marker carrying the totals. The layout is
specified in ``docs/fcs-format.md``.

Typical use::

    with FcsWriter(out, header) as writer:
        writer.write(toks)            # (channels, n) ints, any number of calls
    toks, damages, num_samples = FcsReader(inp).read_all()
"""

from .errors import FcsError, FcsFormatError, FcsValueError
from .fcs import (
    DEFAULT_PACKET_TOKENS,
    LIVE_PACKET_TOKENS,
    MAX_METADATA_BYTES,
    VERSION,
    FcsHeader,
    read_header,
)
from .lengths import LOST_TOKEN, output_length, resampled_length
from .reader import FILL_TOKEN, Damage, FcsReader, Packet, ReaderStats
from .summary import FcsSummary, summarize
from .writer import FcsWriter

__all__ = [
    "DEFAULT_PACKET_TOKENS",
    "FILL_TOKEN",
    "LIVE_PACKET_TOKENS",
    "LOST_TOKEN",
    "MAX_METADATA_BYTES",
    "VERSION",
    "Damage",
    "FcsError",
    "FcsFormatError",
    "FcsHeader",
    "FcsReader",
    "FcsSummary",
    "FcsValueError",
    "FcsWriter",
    "Packet",
    "ReaderStats",
    "output_length",
    "read_header",
    "resampled_length",
    "summarize",
]
