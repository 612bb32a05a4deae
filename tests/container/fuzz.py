"""Fuzz the .fcs reading side: mutated valid files and crafted headers with valid checksums.

Every case builds a valid stream (random header, tokens, packet size, length), then damages it
(bit flips, overwritten bursts, inserted and deleted bytes, duplicated, swapped and dropped
packets, junk, truncation, concatenation with another stream) or replaces its header by one
crafted field by field with a valid CRC (sample counts up to 2**70, 255 channels, token rates
up to 2**32, odd rate codes, long names). Each case is read the ways focal reads a file: the
container reader, ``summarize`` and the ``focal info`` fields, and the CLI's ``TokenStream``
(with its chained streams) as ``focal decode`` and ``focal play`` consume it.

A case fails on:
  * an exception that is not one of the package's own (``FcsError``, ``FocalError``);
  * process memory (peak RSS, checked every 10 cases) above 512 MB;
  * more tokens out of ``TokenStream.blocks`` than the packets present justify (each intact
    packet may account for 255 lost packets before it, every 256 packets' worth of skipped
    bytes for 256 more, and a cut-off end for two packets), or a decoded length (at the
    output rate) beyond those tokens;
  * a case running over 10 s.

Quick run (CI): ``tests/container/test_fuzz.py`` runs ``python tests/container/fuzz.py
--cases 1500 --seed 0`` in a fresh process. Long run by hand: ``bench/fuzz_fcs.py`` (same
options). Prints the counts per mutation and outcome; exit status 1 if any case failed.
Numpy and the standard library only (no torch), so the memory figure is the reader's own.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from focalcli.cli.fcs import info_fields  # noqa: E402
from focalcli.container import FcsError, FcsHeader, FcsReader, FcsWriter, summarize  # noqa: E402
from focalcli.container.fcs import (  # noqa: E402
    DATA_SYNC,
    END_SYNC,
    MAGIC,
    compact_check,
    crc16,
    data_packet_bytes,
    encode_varint,
    frame_packet,
    payload_bytes,
)
from focalcli.container.reader import PAST_WINDOW, Packet  # noqa: E402
from focalcli.errors import FocalError  # noqa: E402
from focalcli.pipeline.fcs import TokenStream  # noqa: E402

MEMORY_LIMIT_MB = 512
CASE_LIMIT_S = 10
RATES = (8000, 16000, 22050, 24000, 44100, 48000, 12345, 16)
TOKEN_RATES = (50.0, 25.0, 12.5, 1000 / 3, 7.0, 100.0)


class CaseTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


# --- building valid streams ------------------------------------------------------------------

def random_header(rng: np.random.Generator) -> FcsHeader:
    channels = int(rng.choice([1, 1, 1, 2, 3]))
    bits = int(rng.integers(1, 17))
    rate_in = int(rng.choice(RATES[:-1]))
    # a third are version 3: a ladder (sync or compact framing) or compact single-group
    v3 = rng.random() < 0.33
    groups = int(rng.choice([1, 2, 4, 16])) if v3 else 1
    framing = str(rng.choice(["sync", "compact"])) if v3 and groups > 1 else (
        "compact" if v3 else "sync")
    return FcsHeader(
        model_name=str(rng.choice(["focal-small", "m", "", "tiny-test"])),
        model_hash=rng.bytes(8).hex(),
        bits_per_token=bits,
        token_rate=float(rng.choice(TOKEN_RATES)),
        sample_rate_input=rate_in,
        sample_rate_output=int(rng.choice(RATES[:-1])),
        channels=channels,
        source_sample_rate=int(rng.choice(RATES)),
        num_samples=None if rng.random() < 0.3 else int(rng.integers(0, 200_000)),
        packet_tokens=int(rng.choice([1, 2, 4, 4, 7, 50, 200])),
        metadata={"k": "v"} if rng.random() < 0.2 else {},
        token_space=rng.bytes(8).hex() if v3 or rng.random() < 0.5 else None,
        groups=groups,
        framing=framing,
    )


def valid_stream(rng: np.random.Generator) -> bytes:
    """A stream as a focal encoder writes one: its sample counts fit its tokens (the header's
    count may also be unknown, or differ from the end marker's, as for a live input)."""
    header = random_header(rng)
    # mostly short streams; some long enough for the 8-bit sequence number to wrap
    n = int(rng.integers(0, 80)) if rng.random() < 0.85 else int(rng.integers(80, 700))
    toks = rng.integers(0, 1 << header.bits_per_token, size=(header.channels, n))
    samples = max(0, int(n * header.source_sample_rate / header.token_rate)
                  - int(rng.integers(0, 500)))
    end_count: int | None = samples
    if header.num_samples is not None and rng.random() < 0.5:
        header = dataclasses.replace(header, num_samples=samples)
        end_count = None if rng.random() < 0.3 else samples
    out = io.BytesIO()
    writer = FcsWriter(out, header)
    if header.groups == 1:
        writer.write(toks)
    else:  # a ladder: runs of frames at random rungs
        pos = 0
        while pos < n:
            step = int(rng.integers(1, 3 * header.packet_tokens + 1))
            g = int(rng.integers(1, header.groups + 1))
            writer.write(rng.integers(0, 1 << header.bits_per_token,
                                      size=(header.channels, min(step, n - pos), g)))
            pos += step
    writer.close(end_count)
    return out.getvalue()


def header_size(data: bytes) -> int:
    return FcsReader(io.BytesIO(data)).header_bytes


def crafted_header(rng: np.random.Generator) -> bytes:
    """A header built field by field with values anywhere in (and beyond) their ranges, and a
    correct CRC, so only the field checks stand between it and the reader."""
    def big() -> int:
        return int(rng.choice([0, 1, 2, 255, 65535, 65536, 2**32 - 1, 10**9, 1.6e11, 2**40,
                               2**63, 2**63 - 1, 2**70 - 1]))

    def pick(typical: list[int]) -> int:
        return int(rng.choice(typical)) if rng.random() < 0.7 else big()

    version = int(rng.choice([1, 2, 3]))
    out = bytearray(MAGIC) + bytes((version,))
    out += bytes((int(rng.choice([1, 5, 12, 16, 0, 17, 255])),
                  int(rng.choice([1, 2, 255, 0, 8]))))
    out += encode_varint(pick([50, 25, 1000, 65536, 2**32 - 1]))
    out += encode_varint(pick([1, 2, 3, 65535, 0]))
    out += encode_varint(pick([1, 4, 200, 65535, 257]))
    for _ in range(3):
        out += encode_varint(pick([4, 6, 1, 13, 16, 14, 0, 15, 48000, 2**32 - 1]))
    out += encode_varint(pick([0, 1, 160001, 10**9 + 1, 2**40, 2**63]))
    out += rng.bytes(8)
    if version >= 2:
        out += rng.bytes(8)
    if version == 3:  # groups and framing, odd values too
        out += bytes((int(rng.choice([1, 2, 4, 16, 0, 17, 255])), int(rng.choice([0, 1, 1, 2]))))
    name = rng.bytes(int(rng.integers(0, 20))) if rng.random() < 0.2 else b"focal-small"
    out += bytes((len(name),)) + name
    meta = b"" if rng.random() < 0.8 else encode_varint(3) + b"a=b"
    out += encode_varint(len(meta)) + meta
    return bytes(out) + crc16(bytes(out)).to_bytes(2, "big")


# --- mutations ---------------------------------------------------------------------------------

def packets_of(data: bytes) -> tuple[int, int]:
    """(header size, data packet size) of a valid stream."""
    reader = FcsReader(io.BytesIO(data))
    return reader.header_bytes, reader.data_packet_bytes


def m_flip(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 8))):
        pos = int(rng.integers(0, len(b)))
        b[pos] ^= 1 << int(rng.integers(8))
    return bytes(b)


def m_burst(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    pos, n = int(rng.integers(0, len(b))), int(rng.integers(1, 300))
    b[pos : pos + n] = rng.bytes(min(n, len(b) - pos))
    return bytes(b)


def m_insert(data: bytes, rng: np.random.Generator) -> bytes:
    pos = int(rng.integers(0, len(data) + 1))
    junk = bytearray(rng.bytes(int(rng.integers(1, 300))))
    for _ in range(int(rng.integers(0, 4))):  # with sync patterns in it
        at = int(rng.integers(0, len(junk)))
        junk[at : at + 2] = DATA_SYNC if rng.random() < 0.5 else END_SYNC
    return data[:pos] + bytes(junk) + data[pos:]


def m_delete(data: bytes, rng: np.random.Generator) -> bytes:
    pos = int(rng.integers(0, len(data)))
    return data[:pos] + data[pos + int(rng.integers(1, 200)) :]


def m_truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data) + 1))]


def _packets(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header, data packets, end marker) of a valid stream."""
    reader = FcsReader(io.BytesIO(data))
    pos = head = reader.header_bytes
    body = []
    for item in reader.packets():  # a clean stream: packets only, the last one the end's
        if reader.end_seen or not isinstance(item, Packet):
            break
        size = data_packet_bytes(reader.header, item.groups)
        body.append(data[pos : pos + size])
        pos += size
    return data[:head], body, data[pos:]


def m_duplicate(data: bytes, rng: np.random.Generator) -> bytes:
    head, body, end = _packets(data)
    if not body:
        return data + data[-3:]
    k = int(rng.integers(0, len(body)))
    at = int(rng.integers(k + 1, min(len(body), k + PAST_WINDOW) + 1))  # within the window
    return head + b"".join(body[:at] + [body[k]] * int(rng.integers(1, 4)) + body[at:]) + end


def m_shuffle(data: bytes, rng: np.random.Generator) -> bytes:
    head, body, end = _packets(data)
    if len(body) >= 2:
        i, j = rng.choice(len(body), 2, replace=False)
        body[i], body[j] = body[j], body[i]
    if body and rng.random() < 0.5:
        del body[int(rng.integers(0, len(body)))]
    return head + b"".join(body) + end


def m_concat(data: bytes, rng: np.random.Generator) -> bytes:
    return data + valid_stream(rng) + (rng.bytes(int(rng.integers(0, 50)))
                                       if rng.random() < 0.3 else b"")


def m_crafted(data: bytes, rng: np.random.Generator) -> bytes:
    """A crafted header, followed by nothing, by the original packets, or by packets that fit
    the crafted header's own geometry where it is readable."""
    head = crafted_header(rng)
    choice = rng.random()
    if choice < 0.3:
        return head
    if choice < 0.6:
        return head + data[header_size(data) :]
    try:
        header = FcsReader(io.BytesIO(head)).header
    except FcsError:
        return head + rng.bytes(int(rng.integers(0, 100)))
    size = data_packet_bytes(header) - 5
    if size > 20000:
        return head + rng.bytes(100)
    if header.version >= 3:  # a rung byte, sometimes out of range, and the rung's payload
        def packet(seq: int) -> bytes:
            g = int(rng.choice([1, header.groups, 0, header.groups + 1]))
            payload = rng.bytes(max(0, payload_bytes(header, max(g, 1))))
            if header.framing == "compact":
                return payload + bytes((compact_check(seq, g, payload),))
            return frame_packet(DATA_SYNC, seq, bytes((g,)) + payload)
    else:
        def packet(seq: int) -> bytes:
            return frame_packet(DATA_SYNC, seq, rng.bytes(size))
    body = b"".join(packet(int(s)) for s in rng.integers(0, 256, int(rng.integers(0, 5))))
    if rng.random() < 0.5:  # an end marker with a random total and count
        total, code = int(rng.integers(0, 1000)), int(rng.choice([0, 1, 10**9, 2**40]))
        rung = bytes((int(rng.choice([1, 0, 255])),)) if header.version >= 3 else b""
        body += frame_packet(END_SYNC, int(rng.integers(0, 256)),
                             rung + encode_varint(total) + encode_varint(code))
    return head + body


def m_garbage(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: header_size(data)] + rng.bytes(int(rng.integers(0, 3000)))


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "flip": m_flip, "burst": m_burst, "insert": m_insert, "delete": m_delete,
    "truncate": m_truncate, "duplicate": m_duplicate, "shuffle": m_shuffle,
    "concat": m_concat, "crafted": m_crafted, "garbage": m_garbage,
}


# --- reading and checking ------------------------------------------------------------------------

def tokens_justified(reader: FcsReader) -> int:
    """Tokens per channel the bytes of one stream can account for, from its reader's counts."""
    h = reader.header
    s = reader.stats
    per_packet = 256 * h.packet_tokens  # a packet plus the 255 it may say were lost before it
    skipped = s.bytes_skipped // reader.data_packet_bytes + 1
    return per_packet * (s.packets_ok + s.packets_duplicate) + h.packet_tokens * (skipped + 2)


def read_like_focal(data: bytes, chunk: int, exact: bool = False) -> str:
    """Read `data` as `focal info` and `focal decode` do; returns an outcome label.

    Raises AssertionError when more is produced than the packets present justify, or, with
    `exact` (a valid stream with packets repeated), when any token is reported lost.
    """
    try:
        summary = summarize(io.BytesIO(data))
    except FcsError:
        return "refused"
    if exact:
        assert summary.end_seen and summary.lost_tokens == 0, summary.damages
    fields = info_fields(summary, "case.fcs")
    assert fields["tokens"] >= 0 and fields["bytes"] == len(data), fields
    if summary.header.groups > 1:  # a ladder: the container alone (the pipeline has no
        return read_ladder(data)    # rungs yet)
    try:
        stream = TokenStream(io.BytesIO(data), "case.fcs")
    except FocalError:
        raise AssertionError("summarize read a header that TokenStream refused") from None
    produced = justified = 0
    while True:
        if stream.header.groups > 1:  # a chained ladder stream: the pipeline has no rungs yet
            break
        link = 0
        reader = stream._reader
        for block in stream.blocks(chunk):
            assert block.ndim == 2 and block.shape[0] == stream.channels
            # a packet's tokens, or concealment in pieces of about 4096 tokens
            assert block.shape[1] <= max(stream.header.packet_tokens, 4096 + chunk), block.shape
            link += block.shape[1]
        bound = tokens_justified(reader) + chunk
        assert link <= bound, f"{link} tokens out of a stream justifying {bound}"
        length = stream.output_length(stream.header.sample_rate_output)
        if length is not None:
            spt = stream.header.sample_rate_output / stream.header.token_rate
            assert length <= (link + 1) * spt + 1, f"{length} samples from {link} tokens"
        produced += link
        justified += bound
        if not stream.next_stream():
            break
    return "damaged" if stream.damages else "intact"


def is_compact(data: bytes) -> bool:
    """True for a stream in compact framing (its duplicates are found with 8-bit checks)."""
    try:
        return FcsReader(io.BytesIO(data)).header.framing == "compact"
    except FcsError:
        return False


def read_ladder(data: bytes) -> str:
    """Read a ladder stream (and the streams chained after it) with the container reader:
    the same bound on tokens as the pipeline's, and every packet's rung in range."""
    reader: FcsReader | None = FcsReader(io.BytesIO(data))
    damaged = False
    while reader is not None:
        toks, damages, _ = reader.read_all()
        damaged = damaged or bool(damages)
        assert toks.ndim == 3 and toks.shape[2] == reader.header.groups, toks.shape
        bound = tokens_justified(reader)
        assert toks.shape[1] <= bound, f"{toks.shape[1]} tokens out of a stream justifying {bound}"
        try:
            reader = reader.next_stream()
        except FcsError:
            return "damaged"
        if reader is not None and reader.header.groups == 1:
            break
    return "damaged" if damaged else "intact"


def run(cases: int, seed: int, report_every: int = 0) -> int:
    """Run `cases` cases from `seed`; prints counts; returns the number of failures."""
    signal.signal(signal.SIGALRM, _on_alarm)
    rng = np.random.default_rng(seed)
    names = list(MUTATIONS)
    outcomes: Counter[str] = Counter()
    per_mutation: Counter[str] = Counter()
    failures: list[str] = []
    slowest = 0.0
    start = time.monotonic()
    for case in range(cases):
        name = names[int(rng.integers(len(names)))]
        per_mutation[name] += 1
        t0 = time.monotonic()
        signal.alarm(CASE_LIMIT_S)
        try:
            data = MUTATIONS[name](valid_stream(rng), rng)
            outcome = read_like_focal(data, int(rng.choice([1, 4])),
                                      exact=name == "duplicate" and not is_compact(data))
        except CaseTimeout:
            outcome = "FAIL timeout"
            failures.append(f"case {case} ({name}): over {CASE_LIMIT_S} s")
        except AssertionError as err:
            outcome = "FAIL output"
            failures.append(f"case {case} ({name}): {err}")
        except (FcsError, FocalError):
            outcome = "refused"
        except Exception:  # noqa: BLE001 - what the harness is looking for
            outcome = "FAIL exception"
            failures.append(f"case {case} ({name}): "
                            + traceback.format_exc(limit=3).strip().replace("\n", " | "))
        finally:
            signal.alarm(0)
        elapsed = time.monotonic() - t0
        slowest = max(slowest, elapsed)
        if elapsed > CASE_LIMIT_S and not outcome.startswith("FAIL"):
            outcome = "FAIL timeout"
            failures.append(f"case {case} ({name}): {elapsed:.1f} s")
        if ((case % 10 == 9 or case == cases - 1) and peak_rss_mb() > MEMORY_LIMIT_MB
                and not any("memory" in f for f in failures)):
            outcome = "FAIL memory"
            failures.append(f"case {case} ({name}): peak RSS {peak_rss_mb():.0f} MB")
        outcomes[outcome] += 1
        if outcome.startswith("FAIL") and report_every:
            print("  " + failures[-1], flush=True)
        if report_every and (case + 1) % report_every == 0:
            print(f"{case + 1} cases, {len(failures)} failures, "
                  f"{time.monotonic() - start:.0f} s", flush=True)
    total_s = time.monotonic() - start
    print(f"fcs fuzz: {cases} cases, seed {seed}, {total_s:.1f} s, slowest case "
          f"{slowest * 1000:.0f} ms, peak RSS {peak_rss_mb():.0f} MB")
    print("  outcomes:  " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print("  mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(per_mutation.items())))
    print(f"  failures:  {len(failures)}")
    for line in failures[:20]:
        print("    " + line)
    return len(failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-every", type=int, default=0, metavar="N",
                        help="print a progress line every N cases")
    args = parser.parse_args(argv)
    return 1 if run(args.cases, args.seed, args.report_every) else 0


if __name__ == "__main__":
    sys.exit(main())
