"""Fixed-rate pacing for locust users: each user on a fixed timetable with a random phase.

A fixed request rate from many users means arrivals spread evenly over each second. Locust's
``constant_throughput`` keeps each user's period but not the users' phases apart: users whose
first requests left together (spawned in one scheduling tick, or answered in one coalesced
batch) stay together, every period, forever. Measured on this machine with 200 users at one
request a second each (``-r 200``): 95% of the 10 ms windows held no request and the rest held
bursts of ~80, so the server saw a thundering herd each second rather than 200 requests/s.

:class:`Timetable` gives each user a uniformly random phase within its period and due times on
an absolute grid (``start + phase + k * period``), so users spread evenly and stay spread: a
user held up (the load generator starved of CPU, a slow answer) sends at once when it is late
and is back on its own phase at the next slot, rather than settling in with whoever it was
held up with. Nothing here imports locust (which patches sockets with gevent on import), so
the pacing is unit-tested as plain logic.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any


class Timetable:
    """Due times ``start + phase + k * period`` for ``k = 0, 1, ...``: ``wait()`` is how long
    to wait for the next slot (0 when it is already due). A user late by more than a period
    skips the slots it missed (the rate stays the target, never a catch-up burst)."""

    def __init__(
        self,
        period_s: float,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, not {period_s!r}")
        self.period_s = period_s
        self._clock = clock
        self.phase_s = (rng or random.Random()).uniform(0.0, period_s)
        self._next = clock() + self.phase_s

    def wait(self) -> float:
        now = self._clock()
        due = self._next
        if due < now - self.period_s:  # more than a slot late: skip to the current slot
            due += ((now - due) // self.period_s) * self.period_s
        self._next = due + self.period_s
        return max(0.0, due - now)


def timetabled(requests_per_second: float) -> Callable[[Any], float]:
    """A locust ``wait_time`` pacing each user at ``requests_per_second`` on a
    :class:`Timetable` of its own, created on its first wait (a user that calls ``self.wait()``
    in ``on_start`` sends its first request on its phase too)."""
    period = 1.0 / requests_per_second

    def wait_time(user: Any) -> float:
        table: Timetable | None = getattr(user, "_haze_timetable", None)
        if table is None:
            table = Timetable(period)
            user._haze_timetable = table
        return table.wait()

    return wait_time
