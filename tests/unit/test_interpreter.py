"""The worker's interpreter settings: applied as documented, and undone here afterwards."""

from __future__ import annotations

import gc
import sys

from haze.interpreter import (
    GC_THRESHOLDS,
    SWITCH_INTERVAL_S,
    collector_as_in_service,
    tune_for_service,
)


def test_tune_for_service_sets_switch_interval_thresholds_and_freezes() -> None:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    kept = [object() for _ in range(10)]  # objects alive now end up in the permanent generation
    try:
        tune_for_service()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        assert gc.get_freeze_count() > 0
        # the collector still runs: a cycle made after start-up is reclaimed by a collection
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
    assert kept


def test_collector_as_in_service_applies_the_thresholds_and_restores_them() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    kept = [[] for _ in range(10)]  # containers alive now: frozen inside, collectable after
    with collector_as_in_service():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert kept
