"""A stream load run by a child process in a session of its own at the lowest CPU priority.

On the shared 2-core reference machine the load generator takes cores the system under test
would have on a deployment (where the publishing path's producers run elsewhere). Plain
``nice`` does not lower it against the services, each a session of its own: the kernel divides
the CPU between sessions (autogroups) first. So the load runs in a child that starts a session,
lowers its autogroup (:func:`haze.priority.lower_priority`) and sends back what it measured.
The child is spawned (not forked from a process that may hold threads), so it imports the
caller's main module again: a script calling this must keep its work under
``if __name__ == "__main__":``, as ``python -m bench`` does.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from typing import Any

from config.settings import Topics
from haze.priority import lower_priority
from loadtest.stream_harness import StreamReport, run_stream_load

LOWEST = 19


def lower(name: str, pid: int | None) -> str:
    """Lower ``pid`` to :data:`LOWEST`; what was set (or why not), for a benchmark's notes."""
    if pid is None:
        return f"{name}: not running"
    try:
        return f"{name}: {lower_priority(pid, LOWEST)}"
    except OSError as exc:
        return f"{name}: priority not lowered ({exc})"


def _child(
    bootstrap: str,
    topics: Topics,
    docs: Sequence[dict[str, Any]],
    rate: float,
    timeout_s: float,
    tick_s: float,
    reply: Any,
) -> None:
    os.setsid()
    note = lower("stream load generator", os.getpid())
    try:
        report = asyncio.run(
            run_stream_load(bootstrap, topics, docs, rate=rate, timeout_s=timeout_s, tick_s=tick_s)
        )
    except Exception as exc:
        reply.send((note, None, f"{type(exc).__name__}: {exc}"))
        raise
    reply.send((note, report, None))


def stream_load_lowered(
    bootstrap: str,
    topics: Topics,
    docs: Sequence[dict[str, Any]],
    *,
    rate: float,
    timeout_s: float,
    tick_s: float = 0.0,
) -> tuple[StreamReport, str]:
    """:func:`~loadtest.stream_harness.run_stream_load` in a lowered child: its report and
    what was set."""
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(
        target=_child, args=(bootstrap, topics, list(docs), rate, timeout_s, tick_s, send)
    )
    child.start()
    deadline = time.monotonic() + timeout_s + 60
    try:
        while not receive.poll(1.0):
            if not child.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the lowered stream load sent nothing back (exit code {child.exitcode})"
                )
        note, report, error = receive.recv()
        if report is None:
            raise RuntimeError(f"the lowered stream load failed: {error}")
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert isinstance(report, StreamReport)
    return report, note
