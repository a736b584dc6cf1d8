"""``haze_state_held_bytes``: what a path's state store holds, read from the store at scrape."""

from __future__ import annotations

from state.base import Series, SeriesPolicy
from state.memory import MemoryStateStore
from streams.metrics import ScreenMetrics


class _Holding(MemoryStateStore):
    held = 0

    @property
    def held_bytes(self) -> int:
        return self.held


def test_the_gauge_follows_the_store() -> None:
    metrics = ScreenMetrics()
    store = _Holding({kind: SeriesPolicy(window_s=60.0, max_members=3) for kind in Series})
    metrics.watch_state("stream", store)
    metrics.watch_state("http", MemoryStateStore({}))

    def sample(path: str) -> float | None:
        return metrics.registry.get_sample_value("haze_state_held_bytes", {"path": path})

    assert sample("stream") == 0 and sample("http") == 0
    store.held = 4096
    assert sample("stream") == 4096
