"""Measure the .fcs overhead (header + packet framing + end marker + padding).

Run: ``python tests/container/overhead.py``. The figures use the realistic case of the
FocalCodec-Stream 4k causal model: name "focalcodec_50hz_4k_causal", 12-bit tokens at 50 Hz,
16 kHz in, 24 kHz out, a 48 kHz source whose length is known, one channel, no user metadata.
"""

from __future__ import annotations

import io

import numpy as np

from focalcli.container import DEFAULT_PACKET_TOKENS, FcsHeader, FcsSummary, FcsWriter, summarize

MODEL_NAME = "focalcodec_50hz_4k_causal"


def measure(
    seconds: float,
    packet_tokens: int = DEFAULT_PACKET_TOKENS,
    model_name: str = MODEL_NAME,
    bits_per_token: int = 12,
    token_rate: float = 50.0,
    token_space: str | None = None,
) -> FcsSummary:
    """Write ``seconds`` of random tokens to an in-memory .fcs and summarise it."""
    n = round(seconds * token_rate)
    header = FcsHeader(
        model_name=model_name,
        model_hash="0123456789abcdef",
        bits_per_token=bits_per_token,
        token_rate=token_rate,
        sample_rate_input=16000,
        sample_rate_output=24000,
        channels=1,
        source_sample_rate=48000,
        num_samples=round(seconds * 16000),
        packet_tokens=packet_tokens,
        token_space=token_space,
    )
    toks = np.random.default_rng(0).integers(0, 1 << bits_per_token, size=n)
    out = io.BytesIO()
    with FcsWriter(out, header) as writer:
        writer.write(toks)
    return summarize(io.BytesIO(out.getvalue()))


def main() -> None:
    print(f"model name {MODEL_NAME!r} ({len(MODEL_NAME)} bytes), 12 bits/token, 50 tokens/s")
    print(
        f"{'duration':>9} {'packet':>12} {'payload B':>10} {'file B':>8} {'overhead B':>11} "
        f"{'overhead':>9} {'kbps':>6}"
    )
    cases = [
        (10, DEFAULT_PACKET_TOKENS),
        (60, DEFAULT_PACKET_TOKENS),
        (3600, DEFAULT_PACKET_TOKENS),
        (10, 100),
        (10, 50),
        (10, 4),
        (60, 4),
    ]
    for seconds, packet_tokens in cases:
        s = measure(seconds, packet_tokens)
        label = f"{packet_tokens} tok" + (
            " (def)" if packet_tokens == DEFAULT_PACKET_TOKENS else ""
        )
        print(
            f"{seconds:>8}s {label:>12} {s.payload_bytes:>10.0f} {s.total_bytes:>8} "
            f"{s.overhead_bytes:>11.0f} {s.overhead_percent:>8.2f}% {s.bitrate_bps / 1000:>6.3f}"
        )


if __name__ == "__main__":
    main()
