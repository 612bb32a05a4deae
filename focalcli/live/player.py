"""Decoding an .fcs stream for playback: reader -> (simulated network) -> jitter buffer ->
decoder (with concealment) -> sink.

Two drivers share the jitter buffer and the output stage:

* **in order** (:meth:`Player.play_file`, for a complete or truncated file): a file is not a
  network, nothing in it is ever late: every packet present is played, in order, as fast as
  the sink takes it (a speaker paces it); only what is missing (or dropped by a simulated
  loss) is concealed;
* **virtual time** (:meth:`Player.play_file` with simulated jitter): packets are given the
  arrival time they would have had if sent live (the nominal time of their last token, plus
  the simulated jitter), and the playout schedule is evaluated on that clock without waiting,
  so a file plays as fast as the sink takes it and every run is reproducible;
* **real time** (:meth:`Player.play_live`, for a pipe): a thread reads packets as they come and
  stamps them with the monotonic clock; each group of tokens is decoded as soon as it is
  complete and written when it is due, or concealed if it is not complete by then.

On a clock, a packet can only arrive once its last token exists, so a group is due the buffer
delay plus the packet's duration beyond one group after its nominal time: packets longer than
a decoder group (a file's 4 s packets) are not all late.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from focalcli.audio.sinks import AudioSink
from focalcli.container import Damage, FcsReader, Packet
from focalcli.container.fcs import tokens_for_samples
from focalcli.container.lengths import output_length
from focalcli.live.jitter import JitterBuffer, JitterStats
from focalcli.live.netsim import NetworkSimulation

#: default buffer delay in milliseconds (covers the encoder's compute jitter on a busy core)
DEFAULT_BUFFER_MS = 40.0
#: a file played in order is decoded in steps of at most this many seconds of tokens
DECODE_BLOCK_S = 10.0


@dataclass
class PlayStats:
    """What a playback did: packets, concealment and timing.

    dropped: packets dropped by the loss simulation.
    decode_s: model time per decoded group, seconds.
    hold_s: per group (live), time from complete (or given up) to written, beyond decoding:
        the wait for its playout time, seconds.
    seconds: audio written, at the output rate.
    skipped_s: audio decoded but not played because it was too far behind (live, speaker).
    """

    jitter: JitterStats
    packet_tokens: int
    token_rate: float
    dropped: int = 0
    decode_s: list[float] = field(default_factory=list)
    hold_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    buffer_ms: float = DEFAULT_BUFFER_MS
    device_underflows: int = 0
    device_latency_ms: float | None = None
    skipped_s: float = 0.0

    @property
    def lost(self) -> int:
        """Packets that never arrived (simulated drops and losses the stream reported)."""
        return self.dropped + self.jitter.known_lost

    @property
    def concealed_packets(self) -> float:
        return self.jitter.concealed_tokens / self.packet_tokens

    def summary(self) -> str:
        """The end-of-playback report, one line."""
        decode = (f"decode {1000 * float(np.mean(self.decode_s)):.1f} ms/group"
                  if self.decode_s else "decode -")
        device = (f" + device {self.device_latency_ms:.0f} ms"
                  if self.device_latency_ms is not None else "")
        group_ms = 1000 * 4 / self.token_rate
        rtf = (f" ({float(np.mean(self.decode_s)) * 1000 / group_ms:.2f} x real time)"
               if self.decode_s else "")
        underruns = self.jitter.underruns + self.device_underflows
        held = (f" (held {1000 * float(np.mean(self.hold_s)):.1f} ms mean)"
                if self.hold_s else "")
        return (f"played {self.seconds:.2f} s; latency: buffer {self.buffer_ms:.0f} ms{held}, "
                f"{decode}{rtf}{device}; packets: {self.jitter.received} received, "
                f"{self.lost} lost, {self.jitter.late} late, {self.concealed_packets:.0f} "
                f"concealed ({self.jitter.concealed_tokens / self.token_rate:.2f} s); "
                f"buffer underruns: {underruns}"
                + (f"; skipped {self.skipped_s:.2f} s behind schedule" if self.skipped_s else ""))


class Player:
    """Plays one .fcs stream into a sink.

    Args:
        reader: the opened stream (header read).
        codec: a causal codec matching the stream.
        sink: where decoded audio goes, at ``codec.sample_rate_output``.
        buffer_ms: jitter buffer delay.
        network: loss and jitter to simulate on received packets.
        max_behind_s: live only: until the first group is written, groups decoded this long
            after they were due are skipped (a late join: for sinks that play in real time, a
            backlog at the start would become lasting latency). None: everything is written.
    """

    def __init__(self, reader: FcsReader, codec: Any, sink: AudioSink,
                 buffer_ms: float = DEFAULT_BUFFER_MS,
                 network: NetworkSimulation | None = None,
                 max_behind_s: float | None = None) -> None:
        from focalcli.pipeline.streaming import StreamDecoder

        h = reader.header
        if h.channels != 1:
            raise ValueError(f"live playback takes mono streams; this one has {h.channels} "
                             "channels")
        self.reader = reader
        self.codec = codec
        self.sink = sink
        self.header = h
        # the wait for a whole packet beyond one group, seconds (0 for one-group packets)
        packet_wait_s = max(0, h.packet_tokens - codec.chunk_tokens) / h.token_rate
        delay_s = buffer_ms / 1000.0 + packet_wait_s
        self.buffer = JitterBuffer(h.channels, h.token_rate, codec.chunk_tokens, delay_s,
                                   h.groups)
        self.stats = PlayStats(self.buffer.stats, h.packet_tokens, h.token_rate,
                               buffer_ms=1000.0 * delay_s)
        self._loss, self._jitter = (network or NetworkSimulation()).make()
        self._session = StreamDecoder(codec)
        self._max_behind_s = max_behind_s
        self._played = False  # live: something was written already
        self._written = 0

    # --- shared pieces -------------------------------------------------------------------

    def _simulate(self, item: Packet) -> float | None:
        """Simulated extra delay of a packet in seconds, or None if it is dropped.

        Only full data packets are dropped; the end marker (with the stream's totals) passes.
        """
        n = item.toks.shape[1]
        if n == self.header.packet_tokens and self._loss.lost():
            self.stats.dropped += 1
            self.buffer.mark_lost(item.token_start, n, 0)
            return None
        return self._jitter.delay_s()

    def _damage(self, item: Damage) -> None:
        """Note what the reader found lost; a cut-off end counts as lost up to the known end."""
        count = item.token_count
        if item.kind == "truncated":
            count = max(0, (self._end_tokens() or 0) - item.token_start)
        if count:
            self.buffer.mark_lost(item.token_start, count,
                                  -(-count // self.header.packet_tokens))

    def _out_length(self) -> int | None:
        n = self.reader.num_samples
        if n is None:
            return None
        return output_length(n, self.header.source_sample_rate, int(self.codec.sample_rate_output))

    def _end_tokens(self) -> int | None:
        """Tokens the stream has: from its end marker, else from the header's length."""
        if self.reader.total_tokens is not None:
            return self.reader.total_tokens
        n = self.reader.num_samples
        if n is None:
            return None
        return tokens_for_samples(self.header, n)

    def _decode_next(self) -> np.ndarray:
        toks = self.buffer.pop_group()
        t0 = time.perf_counter()
        sig = self._session.push(toks)
        self.stats.decode_s.append(time.perf_counter() - t0)
        return sig

    def _write(self, sig: np.ndarray) -> None:
        cap = self._out_length()
        if cap is not None:
            sig = sig[:, : max(0, cap - self._written)]
        if sig.shape[1]:
            self.sink.write(sig)
            self._written += sig.shape[1]

    def _finish(self) -> PlayStats:
        self._write(self._session.flush())
        cap = self._out_length()
        if cap is not None and self._written < cap:
            self._write(np.zeros((1, cap - self._written), dtype=np.float32))
        self.stats.seconds = (self._written / float(self.codec.sample_rate_output)
                              - self.stats.skipped_s)
        self.stats.device_underflows = int(getattr(self.sink, "underflows", 0))
        return self.stats

    # --- virtual time -------------------------------------------------------------------

    def play_file(self) -> PlayStats:
        """Play a stream that is all there (a file), as fast as the sink takes it.

        Without simulated jitter every packet present is played in order (see
        :meth:`_play_in_order`); with it, on the virtual clock (late packets are concealed).
        """
        if self._jitter.max_s <= 0:
            return self._play_in_order()
        rate = self.header.token_rate
        items = self.reader.packets()
        arrivals: list[tuple[float, int, int, np.ndarray]] = []
        order = itertools.count()
        last_nominal = -math.inf
        exhausted = False
        buf = self.buffer

        def read_one() -> None:
            nonlocal last_nominal, exhausted
            item = next(items, None)
            if item is None:
                exhausted = True
                buf.end(self._end_tokens())
                return
            if isinstance(item, Damage):
                self._damage(item)
                if item.kind != "truncated":
                    last_nominal = (item.token_start + item.token_count) / rate
                return
            last_nominal = (item.token_start + item.toks.shape[1]) / rate
            delay = self._simulate(item)
            if delay is not None:
                heapq.heappush(arrivals, (last_nominal + delay, next(order), item.token_start,
                                          item.toks))

        while not buf.finished:
            while buf.anchor_s is None and not exhausted:
                while not arrivals and not exhausted:
                    read_one()
                if arrivals:
                    arrival, _, start, toks = heapq.heappop(arrivals)
                    buf.add(start, toks, arrival)
            if buf.anchor_s is None:  # nothing at all arrived
                if buf.end_token is None:
                    buf.end(self._end_tokens() or 0)
                if buf.finished:
                    break
                buf.anchor_s = 0.0
            due = buf.due_s()
            while not exhausted and last_nominal <= due:
                read_one()
            due = buf.due_s()  # the end may have shortened the group
            while arrivals and arrivals[0][0] <= due:
                arrival, _, start, toks = heapq.heappop(arrivals)
                buf.add(start, toks, arrival)
            if exhausted and buf.finished:
                break
            self._write(self._decode_next())
        return self._finish()

    def _play_in_order(self) -> PlayStats:
        """A file without simulated jitter: each group is played once the stream has been read
        past its end; nothing is late, only tokens that are not in the file (or dropped by the
        loss simulation) are concealed."""
        buf = self.buffer
        self.stats.buffer_ms = 0.0  # nothing waits for anything
        items = self.reader.packets()
        read_to = 0  # token up to which the stream has been read (packets or damage)
        while True:
            while buf.end_token is None and read_to < buf.next_group_end():
                item = next(items, None)
                if item is None:
                    buf.end(self._end_tokens())
                    break
                if isinstance(item, Damage):
                    self._damage(item)
                    if item.kind != "truncated":
                        read_to = max(read_to, item.token_start + item.token_count)
                    continue
                if self._simulate(item) is not None:
                    buf.add(item.token_start, item.toks, 0.0)
                read_to = max(read_to, item.token_start + item.toks.shape[1])
            if buf.finished:
                break
            # Decode what was read in one step, as `focal decode` does (same audio), at most
            # DECODE_BLOCK_S of it (bounded memory).
            groups = [buf.pop_group()]
            limit = max(1, int(DECODE_BLOCK_S * self.header.token_rate) // buf.group_tokens)
            while (len(groups) < limit and not buf.finished
                   and (buf.end_token is not None or buf.next_group_end() <= read_to)):
                groups.append(buf.pop_group())
            t0 = time.perf_counter()
            sig = self._session.push(np.concatenate(groups, axis=1))
            self.stats.decode_s += [(time.perf_counter() - t0) / len(groups)] * len(groups)
            self._write(sig)
        return self._finish()

    # --- real time ----------------------------------------------------------------------

    def play_live(self, clock: Callable[[], float] = time.monotonic) -> PlayStats:
        """Play a stream as it arrives (a pipe); returns at its end."""
        cond = threading.Condition()
        arrivals: list[tuple[float, int, int, np.ndarray]] = []
        order = itertools.count()
        state: dict[str, Any] = {"ended": False, "error": None, "end_at": 0.0}
        max_jitter = self._jitter.max_s

        def read_all() -> None:
            try:
                for item in self.reader.packets():
                    now = clock()
                    with cond:
                        if isinstance(item, Damage):
                            self._damage(item)
                            continue
                        delay = self._simulate(item)
                        if delay is not None:
                            heapq.heappush(arrivals, (now + delay, next(order),
                                                      item.token_start, item.toks))
                        cond.notify()
            except BaseException as err:  # noqa: BLE001 - handed to the playing thread
                state["error"] = err
            with cond:
                state["ended"] = True
                state["end_at"] = clock() + max_jitter
                cond.notify()

        thread = threading.Thread(target=read_all, name="focal-play-reader", daemon=True)
        thread.start()
        buf = self.buffer
        while True:
            with cond:
                while True:
                    now = clock()
                    while arrivals and arrivals[0][0] <= now:
                        arrival, _, start, toks = heapq.heappop(arrivals)
                        buf.add(start, toks, arrival)
                    if state["error"] is not None:
                        raise state["error"]
                    # The end marker tells the total at once; after a cut-off stream, wait
                    # for the packets still in (simulated) flight before ending.
                    if state["ended"] and buf.end_token is None and (
                            self.reader.total_tokens is not None
                            or (not arrivals and now >= state["end_at"])):
                        buf.end(self._end_tokens())
                    if buf.finished or (buf.end_token is not None and buf.anchor_s is None):
                        break
                    due = buf.due_s()
                    if buf.anchor_s is not None and (buf.next_group_complete() or now >= due):
                        break
                    wake = min([due, state["end_at"] if state["ended"] else math.inf]
                               + ([arrivals[0][0]] if arrivals else []))
                    cond.wait(timeout=None if math.isinf(wake) else max(0.0, wake - now))
                if buf.finished or buf.anchor_s is None:
                    break
                ready_at = clock()
            sig = self._decode_next()
            wait = due - clock()
            if wait > 0:
                time.sleep(wait)
            self.stats.hold_s.append(max(0.0, clock() - ready_at - self.stats.decode_s[-1]))
            if (self._max_behind_s is not None and not self._played
                    and clock() - due > self._max_behind_s):
                self.stats.skipped_s += sig.shape[1] / float(self.codec.sample_rate_output)
                self._written += sig.shape[1]  # counted, so the length cap stays right
                continue
            self._write(sig)
            self._played = True
        return self._finish()
