"""Audio file and PCM I/O for the command line: sources, sinks, resampling, channel mixing.

numpy, soundfile and soxr only (no torch). Signals are float32 arrays shaped (channels, n)
in [-1, 1]; sample rates are in Hz.
"""

from focalcli.audio.convert import StreamResampler, downmix, fit_length, resample, scaled_length
from focalcli.audio.pcm import PcmFormat, parse_pcm_format
from focalcli.audio.sinks import (
    OUTPUT_FORMATS,
    AudioSink,
    ExactLength,
    RawPcmSink,
    SoundFileSink,
    sink_format_for,
)
from focalcli.audio.sources import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioSource,
    RawPcmSource,
    SoundFileSource,
    input_warnings,
    open_audio_bytes,
    open_audio_file,
    open_raw_file,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "OUTPUT_FORMATS",
    "StreamResampler",
    "AudioError",
    "AudioSink",
    "AudioSource",
    "ExactLength",
    "PcmFormat",
    "RawPcmSink",
    "RawPcmSource",
    "SoundFileSink",
    "SoundFileSource",
    "downmix",
    "fit_length",
    "input_warnings",
    "open_audio_bytes",
    "open_audio_file",
    "open_raw_file",
    "parse_pcm_format",
    "resample",
    "scaled_length",
    "sink_format_for",
]
