"""The benchmarks' CPU accounting (``bench/_cpu.py``), read from this machine's ``/proc``."""

from __future__ import annotations

import os
import time

import pytest

from bench._cpu import busy_share, cpu_seconds, machine_ticks


def test_busy_share_is_the_busy_and_stolen_fraction_of_the_ticks_between() -> None:
    assert busy_share((100, 10, 1000), (250, 30, 1200)) == pytest.approx((0.75, 0.1))
    assert busy_share((5, 0, 50), (5, 0, 50)) == (0.0, 0.0)  # no time passed: not a division


def test_a_process_that_spins_shows_its_cpu_time_and_a_busy_machine() -> None:
    before_cpu, before = cpu_seconds(os.getpid()), machine_ticks()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = cpu_seconds(os.getpid()) - before_cpu
    busy, steal = busy_share(before, machine_ticks())
    assert 0.2 <= spent <= 5.0
    assert 0.0 < busy <= 1.0 and 0.0 <= steal <= 1.0


def test_a_process_that_is_gone_has_no_cpu_time() -> None:
    assert cpu_seconds(None) == 0.0
    assert cpu_seconds(2**22 + 12345) == 0.0  # above the default pid_max
