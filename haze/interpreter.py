"""Interpreter settings for a long-running worker process, applied once at start-up.

Two defaults of CPython cost a screening worker measurable time:

- The 5 ms GIL switch interval: the inline API's thread waits that long for the GIL while a
  stream batch computes. A 1 ms interval bounds the wait at a small cost in throughput.
  (Alternated with 5 ms in one process serving both under the inline benchmark's load, five
  pairs: no difference the machine's spread does not swamp; docs/performance.md.)
- The cyclic garbage collector's thresholds (700, 10, 10). Screening a batch allocates and frees
  hundreds of thousands of containers, almost none of them in reference cycles, so young
  collections ran ~50 times a second and promoted in-flight batches to the old generation,
  whose full collections walked the whole heap (config, registry, compiled kernels, Faust):
  measured on the reference machine, 11 full collections of ~115 ms each while draining 30,000
  listings, 17–20% of the worker's CPU. Freezing what start-up built (it lives as long as the
  process) and collecting the young generation every 50,000 net allocations cut the worker's
  CPU per listing from ~230–260 us to ~185–200 us and GC time from ~2 s to ~0.15 s. The
  collector still runs: the few cycles a batch leaves (2–3 thousand objects in that run) are
  reclaimed, just less often.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL_S = 0.001
GC_THRESHOLDS = (50_000, 20, 100)
"""Young-generation net allocations, then young and middle collections per older one."""


def tune_for_service() -> None:
    """Apply the settings above; call once start-up (config, kernels, app) is built."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()  # start-up's objects move to a permanent generation no collection walks
    gc.set_threshold(*GC_THRESHOLDS)


@contextmanager
def collector_as_in_service() -> Iterator[None]:
    """The cyclic collector as a worker runs it, for a benchmark of code the worker runs: what
    was built so far frozen (a worker's start-up; a benchmark's prepared corpus) and the
    service's thresholds. The previous thresholds come back after, and the frozen objects are
    collectable again."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
