"""Live streaming: jitter buffer, packet loss and jitter simulation, sound devices, pacing.

Used by `focal stream`, `focal play` and `focal devices`; nothing here parses command lines.
numpy only at import time: sounddevice and the engine (torch) load inside the functions that
need them.
"""

from focalcli.live.jitter import LOST_TOKEN, JitterBuffer, JitterStats
from focalcli.live.netsim import (
    LOSS_MODELS,
    BurstyLoss,
    Jitter,
    LossModel,
    NetworkSimulation,
    NoLoss,
    RandomLoss,
)

__all__ = [
    "LOSS_MODELS",
    "LOST_TOKEN",
    "BurstyLoss",
    "Jitter",
    "JitterBuffer",
    "JitterStats",
    "LossModel",
    "NetworkSimulation",
    "NoLoss",
    "RandomLoss",
]
