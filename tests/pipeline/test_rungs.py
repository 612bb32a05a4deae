"""`--bitrate` schedules and live rung steps (focalcli.pipeline.rungs), without a model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from focalcli.errors import UsageProblem
from focalcli.pipeline.rungs import RungSchedule, nearest_groups, parse_bitrate


def ladder(groups: int = 4) -> SimpleNamespace:
    rungs = [g for g in (1, 2, 4, 8) if g < groups] + [groups]
    return SimpleNamespace(name="lad", num_groups=groups, rung_groups=rungs, token_rate=50.0,
                           bits_per_token=12,
                           rung_bitrate_kbps=lambda g: 50 * 12 * g / 1000)


@pytest.mark.parametrize(("text", "items"), [
    ("2.4", [(0.0, 2.4)]),
    (".6", [(0.0, 0.6)]),
    ("2.4,10=0.6", [(0.0, 2.4), (10.0, 0.6)]),
    ("2.4, 10s=0.6 ,25=1.2", [(0.0, 2.4), (10.0, 0.6), (25.0, 1.2)]),
    ("5=0.6", [(0.0, 0.6), (5.0, 0.6)]),
])
def test_schedules_parse(text: str, items: list[tuple[float, float]]) -> None:
    assert parse_bitrate(text) == items


@pytest.mark.parametrize("text", ["", "fast", "2.4,0.6", "2.4,5=1,5=2", "2.4,6=1,3=2", "0",
                                  "1,2=0", "-1"])
def test_bad_schedules_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageProblem, match="--bitrate"):
        parse_bitrate(text)


def test_the_nearest_rung_wins_and_ties_go_down() -> None:
    codec = ladder()
    assert [nearest_groups(codec, k) for k in (0.1, 0.6, 0.89, 0.91, 1.8, 1.81, 9)] == [
        1, 1, 1, 2, 2, 4, 4]
    assert nearest_groups(codec, 0.9) == 1  # halfway: the lower rung


def test_notes_say_what_is_sent_once() -> None:
    schedule = RungSchedule.parse(ladder(), "1,5=1,9=2.4")
    assert schedule.changes == [(0.0, 2), (5.0, 2), (9.0, 4)]
    assert schedule.notes == ["--bitrate 1: model lad sends 1.20 kbit/s (the nearest rung)"]
    single = RungSchedule.parse(ladder(1), "2.4")
    assert single.notes == ["--bitrate 2.4: model lad sends 0.60 kbit/s (its one rate)"]


def test_split_follows_packet_boundaries() -> None:
    schedule = RungSchedule.parse(ladder(), "2.4,0.1=0.6")  # 0.1 s = token 5
    toks = np.arange(1 * 12 * 4).reshape(1, 12, 4)
    pieces = schedule.split(toks, 0, packet_tokens=4)  # packets start at tokens 0, 4, 8
    assert [p.shape for p in pieces] == [(1, 8, 4), (1, 4, 1)]  # the change waits for token 8
    assert np.array_equal(pieces[1], toks[:, 8:, :1])
    assert [p.shape for p in schedule.split(toks, 0, packet_tokens=1)] == [(1, 5, 4), (1, 7, 1)]
    assert schedule.split(np.zeros((1, 3), dtype=np.int64), 0)[0].shape == (1, 3)  # one rate


def test_live_steps_are_clamped_to_the_ladder() -> None:
    schedule = RungSchedule.parse(ladder(), None)
    assert schedule.groups_at(0) == 4
    assert [schedule.step(-1) for _ in range(4)] == [2, 1, 1, 1]
    assert schedule.step(+1) == 2 and schedule.step(+5) == 4


def test_a_step_from_a_signal_handler_inside_groups_at_does_not_deadlock() -> None:
    """SIGUSR1/2 run their handler in the main thread, possibly while it holds the lock."""
    import threading

    schedule = RungSchedule.parse(ladder(), None)
    got: list[int] = []

    def reenter() -> None:
        with schedule._lock:  # as groups_at does when the signal arrives
            got.append(schedule.step(-1))

    worker = threading.Thread(target=reenter, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive() and got == [2]
