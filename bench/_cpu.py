"""CPU accounting from Linux ``/proc``, for benchmarks that share the machine with what they
measure: a process's CPU time, and how busy the whole machine was over a window (what a
latency figure on a shared 2-core VM cannot be read without)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used; 0 where that is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def machine_ticks() -> tuple[int, int, int]:
    """All CPUs' (busy, steal, total) clock ticks since boot; zeros where not available."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0, 0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, steal, sum(fields)


def busy_share(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[float, float]:
    """The machine's busy and steal shares (0-1) between two :func:`machine_ticks`."""
    total = after[2] - before[2]
    if total <= 0:
        return 0.0, 0.0
    return (after[0] - before[0]) / total, (after[1] - before[1]) / total
