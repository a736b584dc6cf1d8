"""Lowering a local process's CPU priority, the way the kernel actually weighs it.

On a host that runs the latency-critical inline workers beside throughput work (a stream
worker, the broker, load generators), the inline path's latency depends on who gets the cores
first. ``nice`` alone often does nothing there: with the kernel's session autogrouping
(``/proc/sys/kernel/sched_autogroup_enabled``, on by default in most distributions) the
scheduler first divides the CPU between sessions (autogroups), and a thread's nice value only
weighs it against threads of its own session. Every service and worker this project starts is
a session of its own (``start_new_session``), so the value that counts is its autogroup's nice
(``/proc/<pid>/autogroup``), measured here: renicing the stream worker, Redis and the inline
worker moved the inline benchmark by nothing, the same values written to their autogroups
took its p50 from ~10 ms to ~4 ms.

Only lowering is offered (a higher nice value): any user may lower the priority of its own
processes, and nothing here needs privileges.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_NICE = 19
PROC = Path("/proc")
_AUTOGROUP_LINE = re.compile(r"/autogroup-\d+\s+nice\s+(-?\d+)\s*$")


def lower_priority(pid: int, nice: int) -> str:
    """Give process ``pid`` the nice value ``nice`` (0-19, lower priority only) where the
    scheduler weighs it: its autogroup when autogrouping is on, else each of its threads.
    Returns what was set, for a benchmark's notes; raises ``ValueError`` for a value outside
    0-19 and ``OSError`` when the process is gone or not ours."""
    if not 0 <= nice <= MAX_NICE:
        raise ValueError(f"nice must be within 0-{MAX_NICE} (lowering only), not {nice!r}")
    autogroup = _autogroup(pid)
    if autogroup is not None:
        path, _ = autogroup
        try:
            path.write_text(str(nice))
            kept = _autogroup_nice_of(path) == nice
        except PermissionError:
            kept = False
        if kept:
            return f"autogroup nice {nice}"
        # refused, or taken but not kept (a sandboxed /proc): the threads' nice is what is left
    threads = [int(tid) for tid in os.listdir(PROC / str(pid) / "task")]
    for tid in threads:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    return f"nice {nice} on {len(threads)} threads"


def autogroup_nice(pid: int) -> int | None:
    """The nice value of ``pid``'s autogroup (``None`` without working autogrouping)."""
    autogroup = _autogroup(pid)
    return None if autogroup is None else autogroup[1]


def _autogroup(pid: int) -> tuple[Path, int] | None:
    """``pid``'s autogroup file and the nice value it reads, when the kernel groups sessions
    and reports the group in its own format (else ``None``). A sandboxed kernel (the CI
    machine's) may show the sysctl on and the file present but empty: there, nothing is
    grouped by session."""
    path = PROC / str(pid) / "autogroup"
    if not _autogrouping():
        return None
    try:
        nice = _autogroup_nice_of(path)
    except FileNotFoundError:
        return None
    return None if nice is None else (path, nice)


def _autogroup_nice_of(path: Path) -> int | None:
    """The nice value in an autogroup file ("/autogroup-123 nice 5"), ``None`` if it is not in
    that format; ``OSError`` when the process is gone."""
    match = _AUTOGROUP_LINE.match(path.read_text())
    return None if match is None else int(match.group(1))


def _autogrouping() -> bool:
    try:
        return (PROC / "sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False
