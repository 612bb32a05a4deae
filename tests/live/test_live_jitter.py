"""The jitter buffer: ordering, deadlines, lost and late packets, the stream's end."""

from __future__ import annotations

import numpy as np

from focalcli.live.jitter import LOST_TOKEN, JitterBuffer

RATE = 50.0


def packet(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int64).reshape(1, n)


def test_in_order_packets_come_out_as_groups_on_schedule() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.04)
    buf.add(0, packet(0, 4), arrival_s=10.08)
    assert buf.anchor_s is not None and abs(buf.anchor_s - 10.0) < 1e-9
    assert abs(buf.due_s() - (10.0 + 0.08 + 0.04)) < 1e-9
    assert buf.next_group_complete()
    assert buf.pop_group().tolist() == [[0, 1, 2, 3]]
    assert not buf.next_group_complete()


def test_small_packets_fill_a_group_out_of_order() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.04)
    buf.add(0, packet(0, 1), 0.02)
    buf.add(2, packet(2, 1), 0.07)
    buf.add(3, packet(3, 1), 0.08)
    assert not buf.next_group_complete()
    buf.add(1, packet(1, 1), 0.09)  # reordered, still in time
    assert buf.next_group_complete()
    assert buf.pop_group().tolist() == [[0, 1, 2, 3]]
    assert buf.stats.late == 0 and buf.stats.concealed_tokens == 0


def test_missing_tokens_are_handed_out_lost_and_late_ones_discarded() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.04)
    buf.add(0, packet(0, 4), 0.08)
    buf.pop_group()
    buf.add(8, packet(8, 4), 0.24)
    out = buf.pop_group()  # tokens 4..7 never came: concealed
    assert (out == LOST_TOKEN).all()
    assert not buf.add(4, packet(4, 4), 0.30)  # arrives after its turn
    assert buf.stats.late == 1
    assert buf.pop_group().tolist() == [[8, 9, 10, 11]]
    assert buf.stats.concealed_tokens == 4
    assert buf.stats.underruns == 0  # a later packet was there: a hole, not a dry buffer


def test_a_dry_buffer_counts_an_underrun_unless_the_loss_is_known() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.04)
    buf.add(0, packet(0, 4), 0.08)
    buf.pop_group()
    buf.pop_group()  # nothing there at all
    assert buf.stats.underruns == 1
    buf.mark_lost(4, 4, 1)  # later the stream says it was lost
    assert buf.stats.underruns == 0 and buf.stats.known_lost == 1


def test_end_shortens_the_last_group() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.0)
    buf.add(0, packet(0, 4), 0.08)
    buf.add(4, packet(4, 2), 0.12)
    buf.end(6)
    assert buf.pop_group().shape == (1, 4)
    assert buf.next_group_end() == 6
    assert buf.pop_group().tolist() == [[4, 5]]
    assert buf.finished


def test_the_schedule_follows_the_earliest_recent_packet() -> None:
    buf = JitterBuffer(1, RATE, 4, delay_s=0.04)
    buf.add(0, packet(0, 4), arrival_s=0.50)  # a slow first packet
    buf.add(4, packet(4, 4), arrival_s=0.20)  # the path is faster than that
    assert abs(buf.anchor_s - (0.20 - 0.16)) < 1e-9  # type: ignore[operator]
    # a sender whose clock is slower than ours: after the window, the anchor moves later
    for k in range(2, 60):
        buf.add(4 * k, packet(4 * k, 4), arrival_s=0.04 + 0.1 * k)
    assert abs(buf.anchor_s - (0.04 + 0.1 * 59 - 59 * 4 / RATE)) < 0.5  # type: ignore[operator]
    assert buf.anchor_s > 0.5  # type: ignore[operator]
