"""Packet loss and delay simulation, for demos and tests of live streaming.

Loss models decide, packet by packet, whether a packet is dropped: :class:`RandomLoss`
(independent, Bernoulli) and :class:`BurstyLoss` (Gilbert-Elliott: a two-state Markov chain
that loses every packet in its bad state, so losses come in bursts). :class:`Jitter` gives each
packet an extra transit delay in seconds. All are seeded, so a run can be repeated exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

#: names accepted by --loss-model
LOSS_MODELS = ("random", "bursty")
#: mean length of a loss burst of the bursty model, in packets
DEFAULT_BURST_PACKETS = 3.0


class LossModel(ABC):
    """Decides for each packet, in order, whether it is lost."""

    @abstractmethod
    def lost(self) -> bool:
        """True if the next packet is dropped."""


class NoLoss(LossModel):
    """Every packet arrives."""

    def lost(self) -> bool:
        return False


class RandomLoss(LossModel):
    """Each packet is lost independently with probability ``rate`` (0..1)."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"loss rate must be within 0..1, got {rate}")
        self.rate = rate
        self._rng = rng

    def lost(self) -> bool:
        return bool(self._rng.random() < self.rate)


class BurstyLoss(LossModel):
    """Gilbert-Elliott loss: a good state that loses nothing and a bad state that loses all.

    The chain leaves the bad state with probability ``1 / burst_packets`` per packet (mean burst
    ``burst_packets`` packets) and enters it with ``p = rate * r / (1 - rate)``, so that the
    stationary share of the bad state, hence the long-run loss rate, is ``rate``. The chain
    starts in its stationary distribution.
    """

    def __init__(self, rate: float, rng: np.random.Generator,
                 burst_packets: float = DEFAULT_BURST_PACKETS) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"bursty loss rate must be within 0..1 (excluded), got {rate}")
        if burst_packets < 1.0:
            raise ValueError(f"mean burst must be at least 1 packet, got {burst_packets}")
        self.rate = rate
        self.p_enter = min(1.0, rate / (1.0 - rate) / burst_packets)
        self.p_leave = 1.0 / burst_packets
        self._rng = rng
        self._bad = bool(rng.random() < rate)

    def lost(self) -> bool:
        if self._bad:
            self._bad = not self._rng.random() < self.p_leave
        else:
            self._bad = bool(self._rng.random() < self.p_enter)
        return self._bad


class Jitter:
    """Extra transit delay per packet: uniform in ``[0, max_s]`` seconds (0: no delay)."""

    def __init__(self, max_s: float, rng: np.random.Generator) -> None:
        if max_s < 0:
            raise ValueError(f"jitter must be >= 0 s, got {max_s}")
        self.max_s = max_s
        self._rng = rng

    def delay_s(self) -> float:
        """Delay of the next packet in seconds."""
        return float(self._rng.uniform(0.0, self.max_s)) if self.max_s > 0 else 0.0


@dataclass(frozen=True)
class NetworkSimulation:
    """What to simulate: loss in percent, its model, jitter in ms, and the seed."""

    loss_percent: float = 0.0
    loss_model: str = "random"
    jitter_ms: float = 0.0
    seed: int | None = None

    @property
    def active(self) -> bool:
        return self.loss_percent > 0 or self.jitter_ms > 0

    def make(self) -> tuple[LossModel, Jitter]:
        """Fresh loss and jitter models (separate random streams from the one seed)."""
        loss_rng, jitter_rng = (np.random.default_rng(s)
                                for s in np.random.SeedSequence(self.seed).spawn(2))
        rate = self.loss_percent / 100.0
        loss: LossModel
        if rate <= 0:
            loss = NoLoss()
        elif self.loss_model == "bursty":
            loss = BurstyLoss(rate, loss_rng)
        elif self.loss_model == "random":
            loss = RandomLoss(rate, loss_rng)
        else:
            raise ValueError(f"unknown loss model {self.loss_model!r} "
                             f"(use one of: {', '.join(LOSS_MODELS)})")
        return loss, Jitter(self.jitter_ms / 1000.0, jitter_rng)
