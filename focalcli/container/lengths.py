"""The codec-free length and fill rules every reader and writer of audio shares.

* :data:`LOST_TOKEN`: the value standing for a token that was lost (a damaged or missing
  packet, a cut-off end, a late packet in a jitter buffer). The engine conceals any negative
  token; everything that *makes* such a token uses this constant.
* :func:`resampled_length`: samples a stream resampler delivers for ``n`` input samples
  (rounded half up). The encoder's resampler gives exactly this many samples at the model's
  input rate, so it is also how a header's source length converts to the input rate.
* :func:`output_length`: samples of decoded audio at a given rate for a stream whose source
  had ``n`` samples: ``floor(n * rate / source_rate)``, the reference decoder's rule
  (``int(n * sr_out / sr_in)``). At the source rate it is ``n`` exactly. `focal decode`,
  `focal info --verify` and `focal play` all cut (or pad) to it.

The two differ on purpose, and only by at most one sample: 3 samples at 16 kHz last 4.5
samples at 24 kHz; the resampler delivers 5 (half up; the model is given every input sample's
worth of signal) while the decoded audio is 4 samples long (floor, as the reference). Golden
files in tests/container/golden and tests/data pin both.

Integers only, no numpy.
"""

from __future__ import annotations

#: a token that was lost; the engine conceals it (any negative token counts as lost)
LOST_TOKEN = -1


def resampled_length(num_samples: int, rate_from: int, rate_to: int) -> int:
    """Samples that `num_samples` at `rate_from` Hz last at `rate_to` Hz, rounded half up
    (what :class:`focalcli.audio.StreamResampler` delivers in total)."""
    return (num_samples * rate_to * 2 + rate_from) // (2 * rate_from)


def output_length(source_samples: int, source_rate: int, rate: int) -> int:
    """Samples per channel of decoded audio at `rate` Hz for a source of `source_samples` at
    `source_rate` Hz: ``floor(source_samples * rate / source_rate)``."""
    return source_samples * rate // source_rate
