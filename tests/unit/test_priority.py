"""Lowering a process's CPU priority where the scheduler weighs it (haze/priority.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import haze.priority
from haze.priority import autogroup_nice, lower_priority


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
    grouped = autogroup_nice(child.pid) is not None  # the kernel groups sessions and says so
    note = lower_priority(child.pid, 7)
    if grouped:
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


def _sandboxed_proc(root: Path, pid: int, autogroup_text: str) -> Path:
    """A /proc whose sysctl says autogrouping is on, with ``pid``'s autogroup file reading
    ``autogroup_text`` and ``pid`` its only thread: what some container kernels show."""
    (root / "sys/kernel").mkdir(parents=True)
    (root / "sys/kernel/sched_autogroup_enabled").write_text("1\n")
    (root / str(pid) / "task" / str(pid)).mkdir(parents=True)
    (root / str(pid) / "autogroup").write_text(autogroup_text)
    return root


@pytest.mark.parametrize("autogroup_text", ["", "garbage\n"])
def test_an_autogroup_file_the_kernel_leaves_unformatted_falls_back_to_thread_nice(
    child: subprocess.Popen[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autogroup_text: str,
) -> None:
    monkeypatch.setattr(haze.priority, "PROC", _sandboxed_proc(tmp_path, child.pid, autogroup_text))
    assert autogroup_nice(child.pid) is None
    assert lower_priority(child.pid, 6) == "nice 6 on 1 threads"
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 6


def test_an_autogroup_write_that_is_not_kept_falls_back_to_thread_nice(
    child: subprocess.Popen[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a regular file stands in: the write replaces its text, so make the read-back disagree
    proc = _sandboxed_proc(tmp_path, child.pid, "/autogroup-9 nice 0\n")
    monkeypatch.setattr(haze.priority, "PROC", proc)
    assert autogroup_nice(child.pid) == 0
    assert lower_priority(child.pid, 4) == "nice 4 on 1 threads"  # "4" does not read as a group
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 4
