"""The worker's Faust monitor skips per-event stream statistics and keeps what the metrics read."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP

from config.settings import Settings
from streams.app import build_app
from streams.faust_metrics import LeanMonitor


def test_the_worker_uses_the_lean_monitor() -> None:
    app = build_app(Settings())
    assert isinstance(app.monitor, LeanMonitor)


def test_messages_are_counted_and_stream_events_are_not() -> None:
    monitor = LeanMonitor()
    tp = TP("listings.submitted", 2)
    message = SimpleNamespace(time_in=None)
    monitor.on_message_in(tp, 41, message)  # type: ignore[arg-type]
    state = monitor.on_stream_event_in(tp, 41, object(), object())
    monitor.on_stream_event_out(tp, 41, object(), object(), state)
    assert monitor.messages_received_by_topic["listings.submitted"] == 1
    assert monitor.tp_read_offsets[tp] == 41
    assert state is None
    assert monitor.events_total == 0 and not monitor.events_by_stream
