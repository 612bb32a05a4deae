"""The .fcs format, versions 1 to 3: constants, checksum, integer codings and the header.

Normative description: ``docs/fcs-format.md``. In short (all fixed-width integers big-endian,
``v`` = unsigned LEB128 varint)::

    header:  "FCS" | version u8 | bits_per_token u8 | channels u8 | rate_num v | rate_den v
             | packet_tokens v | sample_rate_input r | sample_rate_output r
             | source_sample_rate r | num_samples+1 v (0 = unknown) | model_hash 8 bytes
             | [version >= 2: token_space 8 bytes] | [version 3: groups u8 | framing u8]
             | name_len u8 | model_name | meta_len v | metadata | crc16 u16
    data:    FC A5 | seq u8 | [v3: g u8] | channels*packet_tokens*g tokens, packed | crc16 u16
    compact: channels*packet_tokens*g tokens, packed | check u8      (version 3, framing 1)
    end:     FC E5 | seq u8 | [v3: g u8] | total_tokens v | num_samples+1 v | tail tokens
             | crc16 u16

Version 3 carries a bitrate ladder: a frame (one token time) holds up to ``groups`` tokens, and
each packet says how many it carries (its rung, ``g``); compact framing drops the sync and
the explicit sequence number for live links (docs/fcs-format.md, 2.7).

``r`` is a sample-rate code: a varint that is either an index 1..15 into
:data:`SAMPLE_RATE_CODES` or, when >= 16, the rate in Hz itself.
"""

from __future__ import annotations

import binascii
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

from .byteinput import ByteInput
from .errors import FcsFormatError, FcsValueError

MAGIC = b"FCS"
#: The newest format version: written for a ladder model (groups > 1) or compact framing.
VERSION = 3
#: Versions this reader reads. Version 1 has no token-space identity, version 2 no ladder.
READ_VERSIONS = (1, 2, 3)
#: Framing of a version 3 stream's data packets: sync word, seq and CRC-16 (files), or
#: compact (a check byte that also covers the unsent sequence number: live links).
FRAMING_SYNC = 0
FRAMING_COMPACT = 1
FRAMINGS = {"sync": FRAMING_SYNC, "compact": FRAMING_COMPACT}
MAX_GROUPS = 16
#: Compact framing is for small live packets: the top rung's payload is at most this many
#: bytes (a reader without a sync word tries every offset of damaged input).
MAX_COMPACT_PAYLOAD_BYTES = 1024
DATA_SYNC = b"\xfc\xa5"
END_SYNC = b"\xfc\xe5"
SEQ_MODULUS = 256
CRC_BYTES = 2
PACKET_PREFIX_BYTES = 3  # sync (2) + seq (1)

#: Default tokens per channel per packet for files: 4 s at 50 Hz. Chosen so that header, framing
#: and end marker stay under 10 % of a 10 s, 12-bit, 50 Hz payload (see docs/fcs-format.md).
DEFAULT_PACKET_TOKENS = 200
#: Tokens per packet for live streams: one 80 ms chunk of a 50 Hz streaming encoder.
LIVE_PACKET_TOKENS = 4

MODEL_HASH_BYTES = 8
MAX_NAME_BYTES = 255
MAX_METADATA_BYTES = 65536
MAX_CHANNELS = 255
MAX_TOKENS_PER_PACKET = 65535  # packet_tokens * channels
MAX_TOKEN_RATE_DEN = 65535
MAX_VARINT_BYTES = 10
MAX_SAMPLE_RATE = 2**32 - 1
MAX_NUM_SAMPLES = 2**63 - 1

#: Sample rates with a one-byte code (code = index + 1); codes 14 and 15 are reserved.
SAMPLE_RATE_CODES = (
    8000,
    11025,
    12000,
    16000,
    22050,
    24000,
    32000,
    44100,
    48000,
    88200,
    96000,
    176400,
    192000,
)
_FIRST_LITERAL_RATE = 16

_HEX16 = re.compile(r"[0-9a-f]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def crc16(data: bytes | bytearray) -> int:
    """CRC-16/IBM-3740 (CCITT-FALSE): poly 0x1021, init 0xFFFF, MSB first, no final XOR.

    Check value: ``crc16(b"123456789") == 0x29B1``.
    """
    return binascii.crc_hqx(data, 0xFFFF)


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    if value < 0:
        raise FcsValueError(f"cannot encode negative integer {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame_packet(sync: bytes, seq: int, body: bytes) -> bytes:
    """One packet: ``sync | seq | body | crc16`` with the CRC over everything before it."""
    pkt = sync + bytes((seq % SEQ_MODULUS,)) + body
    return pkt + crc16(pkt).to_bytes(CRC_BYTES, "big")


def payload_bytes(header: FcsHeader, groups: int = 1) -> int:
    """Packed size of one data packet's tokens at rung `groups` (tokens per frame)."""
    return (header.channels * header.packet_tokens * groups * header.bits_per_token + 7) // 8


def data_packet_bytes(header: FcsHeader, groups: int | None = None) -> int:
    """Size in bytes of a full data packet (framing included) at rung `groups` (default: the
    lowest, 1; every packet of a version 1 or 2 stream)."""
    payload = payload_bytes(header, groups or 1)
    if header.framing == "compact":
        return payload + COMPACT_CHECK_BYTES
    return PACKET_PREFIX_BYTES + (header.version >= 3) + payload + CRC_BYTES


#: the check byte that ends a compact data packet
COMPACT_CHECK_BYTES = 1


def compact_check(seq: int, groups: int, payload: bytes | bytearray | memoryview) -> int:
    """Check byte of a compact data packet: the low byte of the CRC-16 of
    ``seq mod 256 | groups | payload``; the sequence number is covered but never sent."""
    return binascii.crc_hqx(payload, binascii.crc_hqx(bytes((seq % SEQ_MODULUS, groups)),
                                                          0xFFFF)) & 0xFF


@dataclass(frozen=True)
class FcsHeader:
    """Everything needed to decode an .fcs stream; validated on construction.

    Attributes:
        model_name: human-readable model identity, UTF-8, at most 255 bytes, no control chars.
        model_hash: 16 hex digits (normalised to lower case): the first 8 bytes of the SHA-256
            of the model weights. Callers refuse to decode with a model whose hash differs,
            unless both name the same ``token_space``.
        bits_per_token: 1..16.
        token_rate: tokens per second per channel; stored as an exact fraction num/den with
            den <= 65535 (50.0, 12.5, 1000/3 ... are exact).
        sample_rate_input: Hz, the rate the encoder consumed.
        sample_rate_output: Hz, the rate the decoder produces.
        channels: coded channels, 1..255; each has its own token stream.
        source_sample_rate: Hz, the rate of the original audio before resampling.
        num_samples: samples per channel of the original audio at ``source_sample_rate``;
            None when unknown (live).
        packet_tokens: tokens per channel in each data packet (``channels * packet_tokens``
            <= 65535).
        metadata: user key=value pairs; keys non-empty without '=' or control characters;
            encoded block at most 65536 bytes.
        token_space: 16 hex digits naming the token space (a hash of the encoder-side weights
            and configuration), or None. A header with one is written as version 2, one
            without as version 1. Any decoder of the same token space decodes the tokens.
        groups: tokens per frame at the top rung of a bitrate ladder, 1..16 (1: one token
            per frame, as every model before the ladder). Each packet carries 1..groups.
        framing: ``"sync"`` (sync word, seq and CRC-16 per packet: files) or ``"compact"``
            (one check byte per packet: live links). Either groups > 1 or compact framing
            makes the header version 3 (which needs a token space).
    """

    model_name: str
    model_hash: str
    bits_per_token: int
    token_rate: float
    sample_rate_input: int
    sample_rate_output: int
    channels: int
    source_sample_rate: int
    num_samples: int | None = None
    packet_tokens: int = DEFAULT_PACKET_TOKENS
    metadata: dict[str, str] = field(default_factory=dict)
    token_space: str | None = None
    groups: int = 1
    framing: str = "sync"

    def __post_init__(self) -> None:
        name = self.model_name
        if not isinstance(name, str) or _CONTROL.search(name):
            raise FcsValueError(f"model name must be a string without control characters: {name!r}")
        if len(_utf8(name, "model name")) > MAX_NAME_BYTES:
            raise FcsValueError(f"model name longer than {MAX_NAME_BYTES} bytes in UTF-8")
        model_hash = self.model_hash.lower() if isinstance(self.model_hash, str) else ""
        if not _HEX16.fullmatch(model_hash):
            raise FcsValueError(
                "model hash must be 16 hex digits (first 8 bytes of SHA-256), "
                f"got {self.model_hash!r}"
            )
        object.__setattr__(self, "model_hash", model_hash)
        if self.token_space is not None:
            space = self.token_space.lower() if isinstance(self.token_space, str) else ""
            if not _HEX16.fullmatch(space):
                raise FcsValueError(f"token space must be 16 hex digits, got {self.token_space!r}")
            object.__setattr__(self, "token_space", space)
        _check_int("bits per token", self.bits_per_token, 1, 16)
        _check_int("groups", self.groups, 1, MAX_GROUPS)
        if self.framing not in FRAMINGS:
            raise FcsValueError(f"framing must be one of {sorted(FRAMINGS)}, got {self.framing!r}")
        if self.framing == "compact" and payload_bytes(self, self.groups) > (
                MAX_COMPACT_PAYLOAD_BYTES):
            raise FcsValueError(f"compact framing takes packets of at most "
                                f"{MAX_COMPACT_PAYLOAD_BYTES} bytes of tokens, not "
                                f"{payload_bytes(self, self.groups)}: use fewer tokens per "
                                "packet or sync framing")
        if self.version >= 3 and self.token_space is None:
            raise FcsValueError("a ladder model (groups > 1) or compact framing needs a token "
                                "space (format version 3)")
        _check_int("channels", self.channels, 1, MAX_CHANNELS)
        _check_int("packet tokens", self.packet_tokens, 1, MAX_TOKENS_PER_PACKET)
        if self.packet_tokens * self.channels * self.groups > MAX_TOKENS_PER_PACKET:
            raise FcsValueError(
                f"packet of {self.packet_tokens} tokens x {self.channels} channels x "
                f"{self.groups} groups exceeds {MAX_TOKENS_PER_PACKET} tokens"
            )
        num, den = _token_rate_fraction(self.token_rate)
        object.__setattr__(self, "token_rate", num / den)
        for label, rate in (
            ("input sample rate", self.sample_rate_input),
            ("output sample rate", self.sample_rate_output),
            ("source sample rate", self.source_sample_rate),
        ):
            _check_int(label, rate, _FIRST_LITERAL_RATE, MAX_SAMPLE_RATE)
        if num > den * self.sample_rate_input:
            raise FcsValueError(
                f"token rate {num}/{den} per second exceeds the input sample rate "
                f"{self.sample_rate_input} Hz (a codec has at most one token per sample)"
            )
        if self.num_samples is not None:
            _check_int("number of samples", self.num_samples, 0, MAX_NUM_SAMPLES)
        if not isinstance(self.metadata, Mapping):
            raise FcsValueError("metadata must be a mapping of str to str")
        object.__setattr__(self, "metadata", dict(self.metadata))
        encode_metadata(self.metadata)  # validates keys, values and size

    @property
    def version(self) -> int:
        """Format version this header is written in: 3 for a ladder (groups > 1) or compact
        framing, else 2 with a token space, else 1."""
        if self.groups > 1 or self.framing != "sync":
            return 3
        return 1 if self.token_space is None else 2

    @property
    def token_rate_fraction(self) -> tuple[int, int]:
        """Token rate as the exact (numerator, denominator) stored in the file."""
        return _token_rate_fraction(self.token_rate)


def encode_metadata(metadata: Mapping[str, str]) -> bytes:
    """Metadata block: per entry ``varint(len) | "key=value"`` in UTF-8, in dict order."""
    out = bytearray()
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise FcsValueError(f"metadata keys and values must be strings: {key!r}={value!r}")
        if not key or "=" in key or _CONTROL.search(key):
            raise FcsValueError(
                f"invalid metadata key {key!r}: "
                "must be non-empty, without '=' or control characters"
            )
        entry = _utf8(key, "metadata key") + b"=" + _utf8(value, "metadata value")
        out += encode_varint(len(entry)) + entry
        if len(out) > MAX_METADATA_BYTES:
            raise FcsValueError(f"metadata too large: over {MAX_METADATA_BYTES} bytes encoded")
    return bytes(out)


def encode_header(header: FcsHeader) -> bytes:
    """Serialise a header (layout in the module docstring), CRC included."""
    num, den = header.token_rate_fraction
    out = bytearray(MAGIC)
    out += bytes((header.version, header.bits_per_token, header.channels))
    out += encode_varint(num) + encode_varint(den) + encode_varint(header.packet_tokens)
    for rate in (header.sample_rate_input, header.sample_rate_output, header.source_sample_rate):
        out += encode_varint(_rate_code(rate))
    out += encode_varint(encode_optional_count(header.num_samples))
    out += bytes.fromhex(header.model_hash)
    if header.token_space is not None:
        out += bytes.fromhex(header.token_space)
    if header.version >= 3:
        out += bytes((header.groups, FRAMINGS[header.framing]))
    name = header.model_name.encode("utf-8")
    out += bytes((len(name),)) + name
    meta = encode_metadata(header.metadata)
    out += encode_varint(len(meta)) + meta
    out += crc16(out).to_bytes(CRC_BYTES, "big")
    return bytes(out)


def tokens_for_samples(header: FcsHeader, num_samples: int) -> int:
    """Tokens per channel needed to cover ``num_samples`` at ``source_sample_rate`` (ceil)."""
    num, den = header.token_rate_fraction
    return -(-num_samples * num // (den * header.source_sample_rate))


def samples_in_tokens(header: FcsHeader, tokens: int) -> int:
    """Samples per channel at ``source_sample_rate`` that ``tokens`` tokens last (floor)."""
    num, den = header.token_rate_fraction
    return tokens * den * header.source_sample_rate // num


def truncated_tail_tokens(header: FcsHeader) -> int:
    """Tokens a decoder may conceal after the intact data of a cut-off stream.

    A stream cut while being written loses at most the data packet in progress and the end
    marker's tail: two packets; never more than 10 s.
    """
    num, den = header.token_rate_fraction
    return max(1, min(2 * header.packet_tokens, -(-10 * num // den)))


def read_header(stream: BinaryIO) -> FcsHeader:
    """Read and validate the header at the start of ``stream``; reads nothing beyond it.

    Raises:
        FcsFormatError: not an .fcs stream, unsupported version, truncated or corrupt header.
    """
    return parse_header(ByteInput(stream))[0]


def parse_header(inp: ByteInput) -> tuple[FcsHeader, int]:
    """Parse the header from the start of ``inp`` and consume it; returns (header, its size)."""
    version = _check_signature(inp)
    cur = _Cursor(inp)
    cur.pos = len(MAGIC) + 1
    bits, channels = cur.take(2)
    num, den, packet_tokens = cur.varint(), cur.varint(), cur.varint()
    rate_codes = [cur.varint() for _ in range(3)]
    num_samples = decode_optional_count(cur.varint())
    model_hash = cur.take(MODEL_HASH_BYTES).hex()
    token_space = cur.take(MODEL_HASH_BYTES).hex() if version >= 2 else None
    groups, framing_code = cur.take(2) if version >= 3 else (1, FRAMING_SYNC)
    name = cur.take(cur.take(1)[0])
    meta_len = cur.varint()
    if meta_len > MAX_METADATA_BYTES:
        raise FcsFormatError(f"corrupt .fcs header (metadata length {meta_len} over the limit)")
    meta = cur.take(meta_len)
    body_len = cur.pos
    stored_crc = int.from_bytes(cur.take(CRC_BYTES), "big")
    if crc16(bytes(inp.buf[:body_len])) != stored_crc:
        raise FcsFormatError("corrupt .fcs header (checksum mismatch)")
    if den == 0 or num == 0:
        raise FcsFormatError("corrupt .fcs header (zero token rate)")
    rates = [_rate_from_code(code) for code in rate_codes]
    framing = {code: label for label, code in FRAMINGS.items()}.get(framing_code)
    if framing is None:
        raise FcsFormatError(f"corrupt .fcs header (unknown framing {framing_code})")
    if version >= 3 and groups == 1 and framing == "sync":
        raise FcsFormatError("corrupt .fcs header (version 3 without a ladder or compact "
                             "framing)")
    try:
        header = FcsHeader(
            model_name=_decode_utf8(name, "model name"),
            model_hash=model_hash,
            bits_per_token=bits,
            token_rate=num / den,
            sample_rate_input=rates[0],
            sample_rate_output=rates[1],
            channels=channels,
            source_sample_rate=rates[2],
            num_samples=num_samples,
            packet_tokens=packet_tokens,
            metadata=_decode_metadata(meta),
            token_space=token_space,
            groups=groups,
            framing=framing,
        )
    except FcsValueError as e:
        raise FcsFormatError(f"corrupt .fcs header ({e})") from None
    inp.consume(cur.pos)
    return header, cur.pos


class _Cursor:
    """Sequential reads from the unconsumed bytes of a ByteInput, for the header."""

    def __init__(self, inp: ByteInput) -> None:
        self.inp = inp
        self.pos = 0

    def take(self, n: int) -> bytes:
        if not self.inp.fill(self.pos + n):
            raise self._truncated()
        out = bytes(self.inp.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def varint(self) -> int:
        try:
            decoded = read_varint(self.inp, self.pos)
        except ValueError:
            raise FcsFormatError("corrupt .fcs header (malformed integer)") from None
        if decoded is None:
            raise self._truncated()
        value, self.pos = decoded
        return value

    def _truncated(self) -> FcsFormatError:
        return FcsFormatError(
            f"truncated .fcs header (input ended after {len(self.inp.buf)} bytes)"
        )


def read_varint(inp: ByteInput, pos: int) -> tuple[int, int] | None:
    """Decode a varint at ``inp.buf[pos]``; (value, next pos), or None if input ends first.

    Raises:
        ValueError: the varint is longer than 10 bytes (never valid in .fcs).
    """
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if not inp.fill(pos + 1):
            return None
        byte = inp.buf[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise ValueError("malformed varint")


def _check_signature(inp: ByteInput) -> int:
    inp.fill(len(MAGIC) + 1)
    head = bytes(inp.buf[: len(MAGIC) + 1])
    if not head:
        raise FcsFormatError("not an .fcs file (empty input)")
    if not MAGIC.startswith(head[: len(MAGIC)]):
        raise FcsFormatError(f"not an .fcs file (starts with {head[: len(MAGIC)]!r}, not b'FCS')")
    if len(head) <= len(MAGIC):
        raise FcsFormatError(f"truncated .fcs header (input ended after {len(head)} bytes)")
    if head[-1] not in READ_VERSIONS:
        known = ", ".join(str(v) for v in READ_VERSIONS[:-1]) + f" and {READ_VERSIONS[-1]}"
        raise FcsFormatError(f"unsupported .fcs version {head[-1]} (this focal reads {known})")
    return head[-1]


def _check_int(label: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FcsValueError(f"{label} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise FcsValueError(f"{label} {value} out of range {lo}..{hi}")


def _token_rate_fraction(rate: float) -> tuple[int, int]:
    if isinstance(rate, bool) or not isinstance(rate, int | float | Fraction):
        raise FcsValueError(f"token rate must be a number, got {rate!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise FcsValueError(f"token rate must be a positive finite number, got {rate!r}")
    frac = Fraction(rate).limit_denominator(MAX_TOKEN_RATE_DEN)
    if frac <= 0 or frac.numerator >= 2**32 or abs(float(frac) - rate) > 1e-9 * rate:
        raise FcsValueError(
            f"token rate {rate!r} is not a fraction with denominator <= {MAX_TOKEN_RATE_DEN}"
        )
    return frac.numerator, frac.denominator


def _rate_code(rate: int) -> int:
    if rate in SAMPLE_RATE_CODES:
        return SAMPLE_RATE_CODES.index(rate) + 1
    return rate


def _rate_from_code(code: int) -> int:
    if code >= _FIRST_LITERAL_RATE:
        return code
    if 1 <= code <= len(SAMPLE_RATE_CODES):
        return SAMPLE_RATE_CODES[code - 1]
    raise FcsFormatError(f"corrupt .fcs header (unknown sample-rate code {code})")


def encode_optional_count(value: int | None) -> int:
    """``None`` -> 0, n -> n + 1 (how unknown sample counts are stored)."""
    return 0 if value is None else value + 1


def decode_optional_count(code: int) -> int | None:
    return None if code == 0 else code - 1


def _utf8(text: str, label: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise FcsValueError(f"{label} is not valid Unicode: {text!r}") from None


def _decode_utf8(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FcsFormatError(f"corrupt .fcs header ({label} is not UTF-8)") from None


def _decode_metadata(block: bytes) -> dict[str, str]:
    meta: dict[str, str] = {}
    inp = ByteInput(io.BytesIO(block))
    pos = 0
    while pos < len(block):
        try:
            decoded = read_varint(inp, pos)
        except ValueError:
            decoded = None
        if decoded is None or decoded[0] + decoded[1] > len(block):
            raise FcsFormatError("corrupt .fcs header (malformed metadata)")
        length, pos = decoded
        entry = _decode_utf8(block[pos : pos + length], "metadata")
        pos += length
        key, sep, value = entry.partition("=")
        if not sep:
            raise FcsFormatError("corrupt .fcs header (metadata entry without '=')")
        if key in meta:
            raise FcsFormatError(f"corrupt .fcs header (metadata key {key!r} repeated)")
        meta[key] = value
    return meta
