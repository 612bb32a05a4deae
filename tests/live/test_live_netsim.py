"""Loss and jitter simulation: rates, burst lengths, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from focalcli.live.netsim import BurstyLoss, NetworkSimulation, RandomLoss


def runs_of_losses(flags: list[bool]) -> list[int]:
    runs, current = [], 0
    for lost in flags:
        if lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs + ([current] if current else [])


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_random_loss_rate_and_independence(rate: float) -> None:
    model = RandomLoss(rate, np.random.default_rng(1))
    flags = [model.lost() for _ in range(40000)]
    assert abs(np.mean(flags) - rate) < 0.01
    assert np.mean(runs_of_losses(flags)) < 1 / (1 - rate) + 0.1  # geometric runs


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.3])
def test_bursty_loss_rate_and_burst_length(rate: float) -> None:
    model = BurstyLoss(rate, np.random.default_rng(2), burst_packets=3.0)
    flags = [model.lost() for _ in range(60000)]
    assert abs(np.mean(flags) - rate) < 0.02
    assert abs(np.mean(runs_of_losses(flags)) - 3.0) < 0.3


def test_simulation_is_repeatable_with_a_seed() -> None:
    sim = NetworkSimulation(loss_percent=20, loss_model="bursty", jitter_ms=30, seed=7)
    a_loss, a_jit = sim.make()
    b_loss, b_jit = sim.make()
    assert [a_loss.lost() for _ in range(500)] == [b_loss.lost() for _ in range(500)]
    delays = [a_jit.delay_s() for _ in range(500)]
    assert delays == [b_jit.delay_s() for _ in range(500)]
    assert 0 <= min(delays) and max(delays) <= 0.030


def test_no_simulation_loses_nothing() -> None:
    loss, jitter = NetworkSimulation().make()
    assert not any(loss.lost() for _ in range(100))
    assert jitter.delay_s() == 0.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        RandomLoss(1.5, np.random.default_rng())
    with pytest.raises(ValueError):
        NetworkSimulation(loss_percent=5, loss_model="weird").make()
