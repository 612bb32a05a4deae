"""Sound devices through sounddevice (PortAudio): listing, microphone source, speaker sink.

sounddevice is imported on first use only. PortAudio's ALSA back end prints diagnostics
straight to the C stderr (probing missing cards, "underrun occurred"); they are silenced here so
that focal's stderr keeps its one-line messages. Input and output use separate streams
(sounddevice's ``play()``/``rec()`` helpers share one stream and stop each other).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from focalcli.audio.convert import StreamResampler
from focalcli.audio.sinks import AudioSink
from focalcli.audio.sources import AudioSource

#: seconds of audio per microphone callback (the capture granularity)
MIC_BLOCK_S = 0.01
#: seconds a read waits for the microphone before declaring it dead
MIC_TIMEOUT_S = 5.0


class DeviceError(Exception):
    """No such device, no device at all, or a device that cannot be opened (one line)."""


@dataclass(frozen=True)
class DeviceInfo:
    """One device as PortAudio sees it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool
    default_output: bool


_alsa_handler: Any = None  # keeps the ctypes callback alive


def _silence_alsa() -> None:
    """Route libasound's error messages to a no-op handler (they bypass Python's stderr)."""
    global _alsa_handler
    if _alsa_handler is not None or not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                    ctypes.c_int, ctypes.c_char_p)
    _alsa_handler = handler_type(lambda *args: None)
    lib.snd_lib_error_set_handler(_alsa_handler)


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block (C libraries printing on init)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def sounddevice() -> ModuleType:
    """The sounddevice module (PortAudio initialised); DeviceError if PortAudio is missing."""
    _silence_alsa()
    try:
        with _quiet_fd2():
            import sounddevice as sd
    except (OSError, ImportError) as err:
        raise DeviceError(f"no sound system: PortAudio cannot be loaded ({err})") from None
    return sd


def list_devices() -> list[DeviceInfo]:
    """All devices PortAudio finds (an empty list when there are none)."""
    sd = sounddevice()
    try:
        with _quiet_fd2():
            devices = sd.query_devices()
            hostapis = sd.query_hostapis()
            default_in, default_out = sd.default.device
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot list sound devices ({err})") from None
    out = []
    for dev in devices:
        out.append(DeviceInfo(
            index=int(dev["index"]), name=str(dev["name"]),
            hostapi=str(hostapis[dev["hostapi"]]["name"]),
            max_input_channels=int(dev["max_input_channels"]),
            max_output_channels=int(dev["max_output_channels"]),
            default_samplerate=float(dev["default_samplerate"]),
            default_input=int(dev["index"]) == default_in,
            default_output=int(dev["index"]) == default_out))
    return out


def find_device(spec: str | None, kind: str) -> DeviceInfo:
    """The device `spec` names (an index or part of a name; None: the default) for `kind`.

    `kind` is ``"input"`` or ``"output"``. DeviceError says why none fits.
    """
    devices = list_devices()
    usable = [d for d in devices if (d.max_input_channels if kind == "input"
                                     else d.max_output_channels) > 0]
    if not usable:
        raise DeviceError(f"no sound {kind} device found (is a sound server running? "
                          "`focal devices` lists what PortAudio sees)")
    if spec is None:
        for d in usable:
            if d.default_input if kind == "input" else d.default_output:
                return d
        return usable[0]
    if spec.isdigit():
        for d in usable:
            if d.index == int(spec):
                return d
        raise DeviceError(f"no {kind} device with index {spec} (see `focal devices`)")
    exact = [d for d in usable if d.name == spec]
    matches = exact or [d for d in usable if spec.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no {kind} device matches {spec!r} (see `focal devices`)")
    names = ", ".join(repr(d.name) for d in matches[:5])
    raise DeviceError(f"{spec!r} matches several {kind} devices ({names}); use the index")


class MicSource(AudioSource):
    """Mono float32 blocks captured from an input device at its own default rate.

    Capture starts at construction; :meth:`blocks` yields (1, n) blocks as the device delivers
    them (about :data:`MIC_BLOCK_S` each) until :meth:`close` or a KeyboardInterrupt.
    ``overflows`` counts blocks the device reported as overflowed (input lost).
    """

    def __init__(self, device: str | None) -> None:
        sd = sounddevice()
        info = find_device(device, "input")
        self.device = info
        self.sample_rate = int(round(info.default_samplerate)) or 16000
        self.channels = 1
        self.num_frames = None
        self.description = f"microphone {info.name!r} ({info.hostapi}) {self.sample_rate} Hz"
        self.overflows = 0
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._closed = False

        def callback(indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
            if status.input_overflow:
                self.overflows += 1
            self._queue.put(np.ascontiguousarray(indata.T, dtype=np.float32).copy())

        try:
            with _quiet_fd2():
                self._stream = sd.InputStream(
                    device=info.index, samplerate=self.sample_rate, channels=1,
                    dtype="float32", blocksize=max(1, int(self.sample_rate * MIC_BLOCK_S)),
                    callback=callback)
                self._stream.start()
        except sd.PortAudioError as err:
            raise DeviceError(f"cannot open input device {info.name!r} ({err})") from None

    @property
    def latency_s(self) -> float:
        """The device's reported input latency in seconds."""
        return float(self._stream.latency)

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        while not self._closed:
            try:
                block = self._queue.get(timeout=MIC_TIMEOUT_S)
            except queue.Empty:
                raise DeviceError(f"input device {self.device.name!r} delivers no audio "
                                  f"(nothing for {MIC_TIMEOUT_S:g} s)") from None
            yield block

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._stream.abort()
            self._stream.close()


class SpeakerSink(AudioSink):
    """Plays float32 (channels, n) blocks on an output device; blocking writes pace the caller.

    Opens the device at ``sample_rate`` if it accepts it, else at its default rate with
    resampling. ``underflows`` counts writes after which the device had run dry.
    """

    def __init__(self, device: str | None, sample_rate: int, channels: int = 1) -> None:
        sd = sounddevice()
        info = find_device(device, "output")
        self.device = info
        self.sample_rate = sample_rate
        self.channels = channels
        self.underflows = 0
        device_rate = sample_rate
        try:
            with _quiet_fd2():
                sd.check_output_settings(device=info.index, samplerate=sample_rate,
                                         channels=channels, dtype="float32")
        except sd.PortAudioError:
            device_rate = int(round(info.default_samplerate))
        self.device_rate = device_rate
        self._resampler = StreamResampler(sample_rate, device_rate, channels)
        try:
            with _quiet_fd2():
                self._stream = sd.OutputStream(device=info.index, samplerate=device_rate,
                                               channels=channels, dtype="float32")
                self._stream.start()
        except sd.PortAudioError as err:
            raise DeviceError(f"cannot open output device {info.name!r} ({err})") from None
        self.description = f"{info.name!r} ({info.hostapi}) {device_rate} Hz"

    @property
    def latency_s(self) -> float:
        """The device's reported output latency in seconds."""
        return float(self._stream.latency)

    def write(self, sig: np.ndarray) -> None:
        out = self._resampler.push(np.asarray(sig, dtype=np.float32))
        if out.shape[1]:
            if self._stream.write(np.ascontiguousarray(np.clip(out, -1.0, 1.0).T)):
                self.underflows += 1

    def close(self) -> None:
        """Play what is left, wait until the device has played it, and close."""
        tail = self._resampler.flush()
        with contextlib.suppress(Exception):
            if tail.shape[1]:
                self._stream.write(np.ascontiguousarray(np.clip(tail, -1.0, 1.0).T))
            self._stream.stop()
        with contextlib.suppress(Exception):
            self._stream.close()
