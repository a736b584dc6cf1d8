"""Lowering a process's CPU priority where the scheduler weighs it (haze/priority.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from haze.priority import _autogrouping, autogroup_nice, lower_priority


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A process of our own in a session (an autogroup) of its own, as the services are."""
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_the_value_lands_where_the_scheduler_weighs_it(child: subprocess.Popen[bytes]) -> None:
    before = autogroup_nice(os.getpid())
    note = lower_priority(child.pid, 7)
    if _autogrouping():
        assert note == "autogroup nice 7"
        assert autogroup_nice(child.pid) == 7
        assert autogroup_nice(os.getpid()) == before  # the caller's own session is untouched
    else:
        assert note.startswith("nice 7 on ")
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 7


@pytest.mark.parametrize("nice", [-1, 20, -20])
def test_only_lowering_within_the_nice_range_is_offered(
    child: subprocess.Popen[bytes], nice: int
) -> None:
    with pytest.raises(ValueError, match="lowering only"):
        lower_priority(child.pid, nice)


def test_a_process_that_is_gone_is_an_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(OSError):
        lower_priority(proc.pid, 5)
