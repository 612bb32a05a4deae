"""`focal info`'s view of a .fcs: its fields, their JSON names and the human summary.

Bytes only (the container never imports torch). Opening files and reading streams is
:mod:`focalcli.pipeline.fcs`.
"""

from __future__ import annotations

import io
import math
from typing import Any, BinaryIO

from focalcli.container import FcsError, FcsSummary, summarize
from focalcli.errors import InputProblem, StreamInvalid, describe_os_error
from focalcli.pipeline.fcs import describe_damage, open_fcs, source_to_input_samples

#: fields of `focal info --json` / `--field`, in display order
INFO_FIELDS: tuple[str, ...] = (
    "file", "format_version", "model", "model_hash", "token_space", "channels", "duration",
    "num_samples", "sample_rate_input", "sample_rate_output", "source_sample_rate",
    "source_samples", "token_rate", "bits_per_token", "groups", "rungs", "framing",
    "payload_bitrate", "bitrate", "packet_tokens", "packet_ms", "packets", "tokens", "bytes",
    "header_bytes",
    "overhead_bytes", "overhead_percent", "integrity", "damaged", "lost_seconds",
    "complete", "streams", "metadata", "verified",
)


def summarize_file(src: str | BinaryIO, name: str) -> tuple[dict[str, Any], bytes]:
    """The `focal info` fields of one .fcs, and its bytes (for --verify)."""
    with open_fcs(src, name) as fh:
        try:
            data = fh.read()
        except OSError as err:
            raise InputProblem(describe_os_error(err), name) from None
    try:
        summary = summarize(io.BytesIO(data))
    except FcsError as err:
        raise StreamInvalid(str(err), name) from None
    return info_fields(summary, name), data


def info_fields(s: FcsSummary, name: str) -> dict[str, Any]:
    h = s.header
    lost = sum(d.token_count for d in s.damages) / h.token_rate
    damaged = not s.intact
    integrity = "ok" if not damaged else describe_damage(s.damages, h, s.stated_num_samples)
    input_samples = source_to_input_samples(h, s.num_samples)
    if not s.end_seen and not s.damages:
        integrity = "truncated (no end marker)"
    seconds = s.tokens / h.token_rate
    # measured: each packet's tokens at the rung it carried (the header's rate when empty)
    payload_bps = (8 * s.payload_bytes / seconds if seconds
                   else h.token_rate * h.bits_per_token * h.channels)
    return {
        "file": name,
        "format_version": h.version,
        "model": h.model_name,
        "model_hash": h.model_hash,
        "token_space": h.token_space,
        "channels": h.channels,
        "duration": round(s.duration_s, 6),
        "num_samples": input_samples,
        "sample_rate_input": h.sample_rate_input,
        "sample_rate_output": h.sample_rate_output,
        "source_sample_rate": h.source_sample_rate,
        "source_samples": s.num_samples,
        "token_rate": h.token_rate,
        "bits_per_token": h.bits_per_token,
        "groups": h.groups,
        "rungs": [g * h.bits_per_token for g in s.rungs],
        "framing": h.framing,
        "payload_bitrate": round(payload_bps, 3),
        "bitrate": round(s.bitrate_bps, 3),
        "packet_tokens": h.packet_tokens,
        "packet_ms": round(1000 * h.packet_tokens / h.token_rate, 3),
        "packets": s.packets,
        "tokens": s.tokens,
        "bytes": s.total_bytes,
        "header_bytes": s.header_bytes,
        "overhead_bytes": round(s.overhead_bytes, 3),
        "overhead_percent": (round(s.overhead_percent, 3)
                             if math.isfinite(s.overhead_percent) else None),
        "integrity": integrity,
        "damaged": damaged,
        "lost_seconds": round(lost, 6),
        "complete": s.end_seen,
        "streams": s.streams,
        "metadata": dict(h.metadata),
        "verified": None,
    }


def _bits(r: dict[str, Any]) -> str:
    """"12 bits", or for a ladder stream the rungs it carried: "rungs 12, 48 bits of 48"."""
    if r["groups"] == 1:
        return f"{r['bits_per_token']} bits"
    rungs = ", ".join(str(b) for b in r["rungs"])
    top = r["groups"] * r["bits_per_token"]
    return f"rung{'s' if len(r['rungs']) > 1 else ''} {rungs} of {top} bits"


def format_summary(r: dict[str, Any]) -> str:
    """The human summary of one file (several lines, like opusinfo)."""
    overhead = (f"{r['overhead_bytes']:.0f} bytes ({r['overhead_percent']:.1f} % of payload)"
                if r["overhead_percent"] is not None else f"{r['overhead_bytes']:.0f} bytes")
    source = f"{r['source_sample_rate']} Hz"
    if r["source_samples"] is not None:
        source += f", {r['source_samples']} samples"
    lines = [
        f"{r['file']}:",
        f"  model       {r['model']} (weights {r['model_hash']}"
        + (f", token space {r['token_space']})" if r["token_space"] else ")")
        + f", format version {r['format_version']}",
        f"  duration    {r['duration']:.3f} s, {r['channels']} channel(s)",
        f"  bitrate     {r['bitrate'] / 1000:.3f} kbit/s in total, payload "
        f"{r['payload_bitrate'] / 1000:.3f} kbit/s ({_bits(r)} x "
        f"{r['token_rate']:g} tokens/s)",
        f"  rates       in {r['sample_rate_input']} Hz, out {r['sample_rate_output']} Hz, "
        f"source {source}",
        f"  packets     {r['packets']} ({r['packet_tokens']} tokens = {r['packet_ms']:g} ms "
        f"each), {r['tokens']} tokens, {r['bytes']} bytes",
        f"  overhead    {overhead}",
        f"  integrity   {r['integrity']}",
    ]
    if r["framing"] != "sync":
        lines.insert(-2, f"  framing     {r['framing']} (live links)")
    if r["streams"] > 1:
        lines.insert(-1, f"  streams     {r['streams']} chained (decoded one after the other)")
    if r["verified"] is not None:
        lines.append(f"  verified    {'yes (decoded and checked)' if r['verified'] else 'no'}")
    return "\n".join(lines)
