"""Which rung of a bitrate ladder each frame is sent at: `--bitrate` schedules and live steps.

A ladder model (``codec.num_groups`` G > 1) codes every frame as G tokens; rung g sends the
first g (``codec.rung_groups``: 1, 2, 4 for the bundled ladder, 0.6, 1.2 and 2.4 kbit/s).
``--bitrate`` takes a rate in kbit/s, or a schedule ``RATE,T=RATE,...`` (the rate from the
start, then from T seconds of input on), each rate mapped to the nearest rung.
:class:`RungSchedule` turns it into groups per token; a live sender may step down or up at
any moment (:meth:`RungSchedule.step`), taking effect at the next packet. Pure Python.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from focalcli.errors import UsageProblem

_ITEM = re.compile(r"^\s*(?:(?P<at>\d+(?:\.\d*)?)\s*(?:s\s*)?=)?\s*(?P<rate>\d+(?:\.\d*)?|\.\d+)"
                   r"\s*$")


def parse_bitrate(text: str) -> list[tuple[float, float]]:
    """``"2.4"`` or ``"2.4,10=0.6,25=1.2"`` -> [(start s, kbit/s), ...], starts ascending from 0.

    Raises UsageProblem (exit 2) for anything else.
    """
    items: list[tuple[float, float]] = []
    for part in text.split(","):
        match = _ITEM.match(part)
        if match is None:
            raise UsageProblem(f"--bitrate {text!r}: write a rate in kbit/s (0.6) or a schedule "
                               "RATE,SECONDS=RATE,... (2.4,10=0.6)")
        at = float(match["at"]) if match["at"] is not None else None
        if at is None and items:
            raise UsageProblem(f"--bitrate {text!r}: every rate after the first needs its "
                               "start, SECONDS=RATE")
        start = 0.0 if at is None else at
        if items and start <= items[-1][0]:
            raise UsageProblem(f"--bitrate {text!r}: the start times must increase")
        if not items and start != 0.0:
            items.append((0.0, float(match["rate"])))  # "10=0.6" alone: from the start too
        items.append((start, float(match["rate"])))
    if any(rate <= 0 for _, rate in items):
        raise UsageProblem(f"--bitrate {text!r}: a rate must be above 0 kbit/s")
    return items


def nearest_groups(codec: Any, kbps: float) -> int:
    """The rung (groups per frame) of `codec` whose payload bitrate is nearest `kbps` (the
    lower one when halfway)."""
    return min(codec.rung_groups,
               key=lambda g: (round(abs(codec.rung_bitrate_kbps(g) - kbps), 9), g))


@dataclass
class RungSchedule:
    """Groups per frame over time for `codec`: a schedule of (start s, groups), and a live
    offset of rungs (:meth:`step`, thread-safe) applied on top of it.

    notes: one line for each requested rate that is not a rung exactly (what the CLI says).
    """

    codec: Any
    changes: list[tuple[float, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _offset: int = 0
    # reentrant: a signal handler (SIGUSR1/2 in `focal stream`) may step while the main thread
    # is inside groups_at
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def parse(cls, codec: Any, text: str | None) -> RungSchedule:
        """From a `--bitrate` value (None: the top rung throughout)."""
        schedule = cls(codec)
        if text is None:
            schedule.changes = [(0.0, int(codec.rung_groups[-1]))]
            return schedule
        for start, kbps in parse_bitrate(text):
            groups = nearest_groups(codec, kbps)
            got = codec.rung_bitrate_kbps(groups)
            if abs(got - kbps) > 1e-6:
                what = ("its one rate" if len(codec.rung_groups) == 1
                        else "the nearest rung")
                note = f"--bitrate {kbps:g}: model {codec.name} sends {got:.2f} kbit/s ({what})"
                if note not in schedule.notes:
                    schedule.notes.append(note)
            schedule.changes.append((start, groups))
        return schedule

    @property
    def ladder(self) -> bool:
        return int(self.codec.num_groups) > 1

    def step(self, rungs: int) -> int:
        """Move the live rung `rungs` up (> 0) or down (< 0) from the schedule, clamped to the
        ladder; returns the groups per frame now sent."""
        with self._lock:
            self._offset += rungs
            low = -self._index(self.changes[-1][1])
            high = len(self.codec.rung_groups) - 1 + low
            self._offset = max(low, min(high, self._offset))
        return self.groups_at(float("inf"))

    def _index(self, groups: int) -> int:
        return list(self.codec.rung_groups).index(groups)

    def groups_at(self, seconds: float) -> int:
        """Groups per frame for the frame starting `seconds` into the input."""
        groups = self.changes[0][1]
        for start, g in self.changes:
            if start <= seconds:
                groups = g
        rungs = list(self.codec.rung_groups)
        with self._lock:
            index = max(0, min(len(rungs) - 1, rungs.index(groups) + self._offset))
        return int(rungs[index])

    def split(self, toks: np.ndarray, first_token: int, packet_tokens: int = 1
              ) -> list[np.ndarray]:
        """(channels, k, G) tokens starting at token `first_token` -> pieces (channels, k_i, g_i)
        in order, each at the groups asked for at the start of its frames' packet (of
        `packet_tokens`): a change takes effect at the next packet boundary. Single-rate
        tokens (channels, k) pass as they are."""
        if toks.ndim == 2 or not toks.shape[1]:
            return [toks]
        rate = float(self.codec.token_rate)
        starts = (first_token + np.arange(toks.shape[1])) // packet_tokens * packet_tokens
        groups = np.array([self.groups_at(float(start) / rate) for start in starts])
        cuts = np.flatnonzero(np.diff(groups)) + 1
        pieces = []
        for start, stop in zip([0, *cuts], [*cuts, toks.shape[1]], strict=True):
            pieces.append(toks[:, start:stop, : int(groups[start])])
        return pieces
