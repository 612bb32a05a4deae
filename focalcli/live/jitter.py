"""The jitter buffer: packets in, in any order and at uneven times; token groups out on time.

Time is "stream time" in seconds. The buffer anchors it at the earliest recent packet: if a
packet ending at token ``e`` arrived at time ``a``, and no packet of the last two seconds arrived
earlier relative to its tokens, every token group ``[p, q)`` is due for playout at
``a - e / token_rate + q / token_rate + delay_s`` -- the nominal arrival of its last token plus
the buffer delay. Tokens that are not there when their group is due are handed out as lost
(negative) so the decoder conceals them; a packet arriving after its tokens were played is late
and discarded. The buffer itself never sleeps: a driver (see :mod:`focalcli.live.player`) asks
what is due when and feeds it packets as they arrive.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from focalcli.container.lengths import LOST_TOKEN

__all__ = ["ANCHOR_WINDOW_S", "LOST_TOKEN", "JitterBuffer", "JitterStats"]

#: seconds of arrivals over which the earliest packet sets the playout schedule
ANCHOR_WINDOW_S = 2.0


@dataclass
class JitterStats:
    """What the buffer saw, in packets (and tokens per channel where it says so).

    received: packets that arrived (in time or late).
    late: packets that arrived after (part of) their tokens had been played; discarded.
    known_lost: packets the stream said were lost (gaps and corrupt bytes seen by the reader).
    concealed_tokens: tokens handed out as lost (missing when due, lost, late or cut off).
    underruns: groups that were due while the buffer held nothing at or after them, for no
        reason known at the end (not lost, not late): the stream itself stalled.
    """

    received: int = 0
    late: int = 0
    known_lost: int = 0
    concealed_tokens: int = 0
    underruns: int = 0
    played_tokens: int = 0


class JitterBuffer:
    """Token packets keyed by position; hands out fixed-size groups in order.

    Args:
        channels: token channels per packet.
        token_rate: tokens per second per channel.
        group_tokens: tokens handed out per group (the decoder's group, 4 for FocalCodec).
        delay_s: buffer delay in seconds: how long after its nominal arrival a group is played.
        groups: tokens per frame of a ladder stream (packets and groups are then
            (channels, n, groups)); 1 otherwise.
    """

    def __init__(self, channels: int, token_rate: float, group_tokens: int,
                 delay_s: float, groups: int = 1) -> None:
        self.channels = channels
        self.groups = groups
        self.token_rate = token_rate
        self.group_tokens = group_tokens
        self.delay_s = delay_s
        self.stats = JitterStats()
        self.position = 0  # next token to play
        self.end_token: int | None = None  # total tokens once the stream end is known
        self.anchor_s: float | None = None  # stream time of token 0's nominal arrival
        self._packets: dict[int, npt.NDArray[np.int64]] = {}
        self._furthest = 0  # end of the furthest packet received
        self._offsets: deque[tuple[float, float]] = deque()  # (arrival, offset), offset rising
        self._dry: list[tuple[int, int]] = []  # groups played while the buffer was empty
        self._explained: list[tuple[int, int]] = []  # token ranges known lost or late

    # --- input --------------------------------------------------------------------------

    def add(self, token_start: int, toks: npt.NDArray[np.int64], arrival_s: float) -> bool:
        """Store a packet's tokens (channels, n) arriving at ``arrival_s``; False if late."""
        n = toks.shape[1]
        end = token_start + n
        self.stats.received += 1
        self._track_anchor(arrival_s, arrival_s - end / self.token_rate)
        late = token_start < self.position
        if late:
            self.stats.late += 1
            self._explained.append((token_start, end))
            if end <= self.position:
                return False
            toks = toks[:, self.position - token_start:]
            token_start = self.position
        if n:
            self._packets[token_start] = toks
            self._furthest = max(self._furthest, end)
        return not late

    def _track_anchor(self, arrival_s: float, offset_s: float) -> None:
        """Anchor = the smallest (arrival - nominal) offset of the packets that arrived within
        the last :data:`ANCHOR_WINDOW_S`: the delay then covers the jitter above the fastest
        recent path, a slow first packet adds no latency, and the schedule follows a sender
        whose clock runs slower or faster than ours."""
        window = self._offsets
        while window and window[-1][1] >= offset_s:
            window.pop()
        window.append((arrival_s, offset_s))
        while window[0][0] < arrival_s - ANCHOR_WINDOW_S:
            window.popleft()
        self.anchor_s = window[0][1]

    def mark_lost(self, token_start: int, token_count: int, packets: int) -> None:
        """Note ``packets`` packets known lost (by the stream or the loss simulation) at
        ``token_start .. token_start + token_count``; their tokens never arrive."""
        self.stats.known_lost += packets
        self._explained.append((token_start, token_start + token_count))
        self._update_underruns()

    def end(self, total_tokens: int | None) -> None:
        """The stream ended: at ``total_tokens`` if known, else after the furthest packet."""
        self.end_token = self._furthest if total_tokens is None else total_tokens

    # --- output -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True when the end is known and every token up to it was handed out."""
        return self.end_token is not None and self.position >= self.end_token

    def next_group_end(self) -> int:
        """End (exclusive) of the next group: a full group, or the stream's last partial one."""
        end = self.position + self.group_tokens
        if self.end_token is not None:
            end = min(end, max(self.end_token, self.position))
        return end

    def due_s(self) -> float:
        """Stream time at which the next group must be played (inf before the first packet)."""
        if self.anchor_s is None:
            return float("inf")
        return self.anchor_s + self.next_group_end() / self.token_rate + self.delay_s

    def next_group_complete(self) -> bool:
        """True if every token of the next group is in the buffer."""
        end = self.next_group_end()
        pos = self.position
        while pos < end:
            toks = self._find(pos)
            if toks is None:
                return False
            pos = self._start_of(pos) + toks.shape[1]
        return True

    def pop_group(self) -> npt.NDArray[np.int64]:
        """The next group's tokens (channels, n), :data:`LOST_TOKEN` where missing; advances.
        A ladder stream's are (channels, n, groups)."""
        end = self.next_group_end()
        shape: tuple[int, ...] = (self.channels, end - self.position)
        if self.groups > 1:
            shape += (self.groups,)
        out = np.full(shape, LOST_TOKEN, dtype=np.int64)
        dry = self._furthest <= self.position
        for start in sorted(self._packets):
            toks = self._packets[start]
            stop = start + toks.shape[1]
            if stop <= self.position:
                del self._packets[start]
                continue
            if start >= end:
                break
            lo, hi = max(start, self.position), min(stop, end)
            out[:, lo - self.position : hi - self.position] = toks[:, lo - start : hi - start]
            if stop <= end:
                del self._packets[start]
        first = out[0] if self.groups == 1 else out[0, :, 0]  # a frame is lost with group 0
        missing = int((first == LOST_TOKEN).sum())
        self.stats.concealed_tokens += missing
        if dry and missing:
            self._dry.append((self.position, end))
            self._update_underruns()
        self.stats.played_tokens += out.shape[1]
        self.position = end
        return out

    def _update_underruns(self) -> None:
        self.stats.underruns = sum(
            1 for lo, hi in self._dry
            if not any(a < hi and lo < b for a, b in self._explained))

    def _start_of(self, pos: int) -> int:
        for start, toks in self._packets.items():
            if start <= pos < start + toks.shape[1]:
                return start
        raise KeyError(pos)

    def _find(self, pos: int) -> npt.NDArray[np.int64] | None:
        for start, toks in self._packets.items():
            if start <= pos < start + toks.shape[1]:
                return toks
        return None
