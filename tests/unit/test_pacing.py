"""The load generator's pacing: users on absolute timetables with random phases."""

from __future__ import annotations

import random

import pytest

from loadtest.pacing import Timetable, timetabled
from loadtest.stream_harness import pause_before_next


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_first_slot_is_the_phase_and_then_every_period_from_it() -> None:
    clock = Clock()
    table = Timetable(1.0, rng=random.Random(3), clock=clock)
    assert 0.0 <= table.phase_s < 1.0
    assert table.wait() == pytest.approx(table.phase_s)
    clock.now += table.phase_s + 0.3  # the request took 0.3 s
    assert table.wait() == pytest.approx(0.7)
    clock.now += 0.7 + 0.05
    assert table.wait() == pytest.approx(0.95)  # anchored: a slow answer does not shift it


def test_a_late_user_sends_at_once_and_is_back_on_its_phase_at_the_next_slot() -> None:
    clock = Clock()
    table = Timetable(1.0, rng=random.Random(5), clock=clock)
    first_due = clock.now + table.wait()
    clock.now = first_due + 3.4  # held up for several periods
    assert table.wait() == 0.0  # sends now, once: the missed slots are skipped, not burst
    later = table.wait()
    assert later == pytest.approx(0.6)  # the next slot on the grid of its phase
    assert (clock.now + later - first_due) % 1.0 == pytest.approx(0.0, abs=1e-9)


def test_users_held_up_together_spread_out_again() -> None:
    """The clumping constant_throughput kept: users answered together stay apart here."""
    clock = Clock(0.0)
    rng = random.Random(11)
    tables = [Timetable(1.0, rng=rng, clock=clock) for _ in range(200)]
    for table in tables:
        table.wait()
    clock.now = 5.0  # every user was held up and its request answered at the same instant
    for table in tables:
        table.wait()
    sends = sorted(clock.now + table.wait() for table in tables)
    per_window = [0] * 100
    for at in sends:
        per_window[int((at % 1.0) * 100)] += 1
    assert max(per_window) <= 10  # ~2 per 10 ms window, not one burst of 200
    assert sends[-1] - sends[0] < 1.0


def test_phases_are_spread_over_the_period() -> None:
    rng = random.Random(1)
    phases = [Timetable(0.5, rng=rng, clock=Clock()).phase_s for _ in range(2000)]
    assert min(phases) >= 0.0 and max(phases) < 0.5
    quarters = [sum(1 for p in phases if q * 0.125 <= p < (q + 1) * 0.125) for q in range(4)]
    assert all(400 < count < 600 for count in quarters)


def test_the_locust_wait_time_keeps_one_timetable_per_user() -> None:
    class User:
        pass

    wait_time = timetabled(4.0)
    a, b = User(), User()
    assert 0.0 <= wait_time(a) <= 0.25
    table = a._haze_timetable  # type: ignore[attr-defined]
    wait_time(a)
    assert a._haze_timetable is table  # type: ignore[attr-defined]
    wait_time(b)
    assert b._haze_timetable is not table  # type: ignore[attr-defined]
    assert table.period_s == 0.25


@pytest.mark.parametrize("period", [0.0, -1.0, float("nan")])
def test_a_period_that_is_not_positive_is_refused(period: float) -> None:
    with pytest.raises(ValueError, match="period_s"):
        Timetable(period)


def _sleeps(count: int, rate: float, tick_s: float, send_s: float = 0.0001) -> list[float]:
    """The pauses a paced stream load makes, simulated: each send takes ``send_s``."""
    elapsed, pauses = 0.0, []
    for index in range(count):
        elapsed += send_s
        pause = pause_before_next(index, rate, elapsed, tick_s)
        if pause:
            pauses.append(pause)
            elapsed += pause
    return pauses


def test_the_stream_load_sleeps_until_each_listing_is_due_without_a_tick() -> None:
    pauses = _sleeps(500, 500.0, 0.0)
    assert len(pauses) == 500
    assert sum(pauses) + 500 * 0.0001 == pytest.approx(1.0)


def test_a_tick_sends_what_is_due_within_it_at_once_and_keeps_the_rate() -> None:
    pauses = _sleeps(500, 500.0, 0.005)
    assert 100 <= len(pauses) <= 200  # a wake-up every 2-3 listings at 2 ms apart, not 500
    assert all(pause > 0.005 for pause in pauses)
    # the last one goes out within a tick of when it is due: the rate is kept
    assert 1.0 - 0.005 <= sum(pauses) + 500 * 0.0001 <= 1.0


def test_a_late_load_never_sleeps() -> None:
    assert pause_before_next(10, 500.0, 1.0, 0.005) == 0.0
    assert pause_before_next(10, 500.0, 1.0, 0.0) == 0.0
