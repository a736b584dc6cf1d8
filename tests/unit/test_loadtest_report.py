"""The load-test tools' pure parts: settings, mix, time series, locust output parsing, the
report files and the ``## loadtest`` section of docs/benchmarks.md."""

from __future__ import annotations

import csv
import math
import tempfile
from collections import Counter
from pathlib import Path

import orjson
import pytest

from loadtest.http_steps import HttpStep, best_step, read_history, read_totals
from loadtest.markdown import carry_sections, replace_section, sections
from loadtest.mix import MixError, parse_mix
from loadtest.report import LoadRun, StreamPhase, breakdown, render_section, write
from loadtest.run import LoadSettings, LoadtestError
from loadtest.series import per_second, percentiles, steady_rate
from loadtest.stream_harness import StreamReport


def test_per_second_bins_count_rate_and_percentiles_with_gaps() -> None:
    times = [0.1, 0.5, 0.9, 2.2, 2.7]
    latencies = [10.0, 20.0, 30.0, 100.0, 300.0]
    points = per_second(times, latencies)
    assert [(p.second, p.count, p.rate) for p in points] == [(0, 3, 3), (1, 0, 0), (2, 2, 2)]
    assert points[0].p50_ms == 20.0 and points[2].p50_ms == 200.0
    assert math.isnan(points[1].p99_ms)
    half = per_second(times, latencies, width_s=0.5)
    assert [p.count for p in half] == [1, 2, 0, 0, 1, 1]
    assert per_second([], []) == []
    with pytest.raises(ValueError):
        per_second([1.0], [])


def test_steady_rate_and_percentiles() -> None:
    assert steady_rate([0.0, 1.0, 2.0, 3.0, 4.0]) == 1.0
    assert steady_rate([5.0]) == 0.0
    assert steady_rate([]) == 0.0
    assert percentiles(list(range(1, 101)))["p50_ms"] == 50.5
    assert math.isnan(percentiles([])["p99_ms"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("legit=1,bogus=2", "bogus"),
        ("legit", "class=weight"),
        ("legit=abc", "not a number"),
        ("legit=0", "positive"),
    ],
)
def test_a_bad_mix_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(MixError, match=message):
        parse_mix(text)


def test_a_mix_parses_to_weights() -> None:
    assert parse_mix("") is None
    assert parse_mix(" legit=3, counterfeit=1 ") == {"legit": 3.0, "counterfeit": 1.0}


def test_settings_from_the_environment() -> None:
    defaults = LoadSettings.from_env({})
    assert defaults.workers == 1 and defaults.phases == ("capacity", "sustained", "http")
    s = LoadSettings.from_env(
        {
            "WORKERS": "2",
            "LOADTEST_HTTP_RATES": "10, 40",
            "LOADTEST_PHASES": "capacity,http",
            "LOADTEST_MIX": "legit=1,prohibited=1",
            "LOADTEST_RESULTS": "/tmp/x",
        }
    )
    assert (s.workers, s.http_rates, s.phases, s.results_dir) == (
        2,
        (10, 40),
        ("capacity", "http"),
        Path("/tmp/x"),
    )
    for env, message in (
        ({"WORKERS": "9"}, "partitions"),
        ({"LOADTEST_PHASES": "warmup"}, "unknown phase"),
        ({"LOADTEST_DURATION": "soon"}, "LOADTEST_DURATION"),
        ({"LOADTEST_MIX": "nope=1"}, "nope"),
        ({"LOADTEST_MALFORMED": "2"}, "share"),
    ):
        with pytest.raises((LoadtestError, MixError), match=message):
            LoadSettings.from_env(env)


_COLUMNS = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%"
HISTORY = f"""{_COLUMNS},99%,99.9%,99.99%,100%,Total Request Count
1700000000,10,POST,/v1/screen,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0
1700000000,10,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0
1700000001,10,POST,/v1/screen,9.5,0.5,12,13,14,15,18,20,25,31,40,40,40,10
"""


def test_locust_history_and_totals_are_read() -> None:
    rows = read_history(HISTORY)
    assert len(rows) == 2  # the endpoint's rows only
    assert math.isnan(rows[0]["p50_ms"])
    assert (rows[1]["rps"], rows[1]["failures_per_s"], rows[1]["p99_ms"]) == (9.5, 0.5, 31.0)
    stats = [
        {"name": "/v1/screen", "num_requests": 100, "num_failures": 1,
         "response_times": {"10": 50, "20": 49, "900": 1}},
        {"name": "Aggregated", "num_requests": 100, "num_failures": 1, "response_times": {}},
    ]  # fmt: skip
    totals = read_totals(stats)
    assert totals == {"requests": 100, "failures": 1, "p50_ms": 10.0, "p99_ms": 20.0}
    assert read_totals([])["requests"] == 0


def test_best_step_is_the_highest_rate_without_errors_that_reached_its_target() -> None:
    ok = HttpStep(50, 10, requests=500)
    higher = HttpStep(100, 10, requests=990)
    erred = HttpStep(200, 10, requests=2000, failures=3)
    short = HttpStep(400, 10, requests=1500)  # 150 rps of 400: the client could not keep up
    assert best_step([ok, higher, erred, short]) is higher
    assert best_step([erred]) is None


def _report(rate: float, n: int, latency_ms: float, produced: int | None = None) -> StreamReport:
    r = StreamReport(produced=produced if produced is not None else n, verdicts=n)
    r.verdict_times_s = [i / rate for i in range(n)] if rate else [i / 1000 for i in range(n)]
    r.latencies_ms = [latency_ms + (i % 10) for i in range(n)]
    r.decisions = Counter(allow=n)
    return r


def _run() -> LoadRun:
    run = LoadRun("2026-01-01T00:00:00+00:00", 1, 4, {"duration_s": "3"}, {"cpu": "x", "cores": 2})
    run.stream = [
        StreamPhase("capacity", 0.0, _report(0, 3000, 900.0)),
        StreamPhase("sustained", 800.0, _report(500.0, 1500, 400.0, produced=2400)),
        StreamPhase("sustained", 350.0, _report(350.0, 1050, 30.0)),
    ]
    step = HttpStep(50, 3, requests=150, server_p50_ms=1.5, server_p99_ms=8.0)
    step.history = [
        {"timestamp": 10.0 + i, "users": 50, "rps": 50, "failures_per_s": 0,
         "p50_ms": 2.0, "p90_ms": 4.0, "p99_ms": math.nan}
        for i in range(3)
    ]  # fmt: skip
    run.http = [step, HttpStep(100, 3, requests=300, failures=2)]
    return run


def test_report_files_and_headline(tmp_path: Path) -> None:
    doc = write(tmp_path, _run())
    for name in ("summary.json", "stream_timeseries.csv", "http_steps.csv", "http_timeseries.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = orjson.loads((tmp_path / "summary.json").read_bytes())  # no NaN in the JSON
    assert stored == doc
    head = doc["headline"]
    # the paced run that fell behind (1,500 of 2,400) is not the sustained figure
    assert head["sustained_lps"] == pytest.approx(350, rel=0.01)
    assert head["sustained_kept_up"] is True and head["sustained_p99_ms"] < 40
    assert head["capacity_lps"] == pytest.approx(1000, rel=0.01)
    assert (head["inline_best_rps"], head["inline_best_p99_ms"]) == (50.0, 8.0)
    rows = list(csv.DictReader((tmp_path / "stream_timeseries.csv").read_text().splitlines()))
    assert sum(int(r["verdicts"]) for r in rows) == 3000 + 1500 + 1050
    http_rows = list(csv.DictReader((tmp_path / "http_timeseries.csv").read_text().splitlines()))
    assert [r["second"] for r in http_rows] == ["0.0", "1.0", "2.0"] and http_rows[0][
        "p99_ms"
    ] == ""


def test_a_paced_phase_whose_latency_keeps_growing_did_not_keep_up() -> None:
    flat = _report(200.0, 800, 50.0)
    growing = _report(200.0, 800, 50.0)
    growing.latencies_ms = [50.0 + 10.0 * i for i in range(800)]  # a queue building up
    assert StreamPhase("sustained", 200.0, flat).kept_up
    assert not StreamPhase("sustained", 200.0, growing).kept_up
    assert StreamPhase("capacity", 0.0, growing).kept_up  # a backlog is expected to queue
    missing = _report(200.0, 800, 50.0, produced=801)
    assert not StreamPhase("sustained", 200.0, missing).kept_up


def test_the_benchmarks_section_is_replaced_and_kept_when_bench_regenerates(
    tmp_path: Path,
) -> None:
    doc = write(tmp_path, _run())
    section = render_section(doc, "20260101T000000Z")
    assert section.startswith("## loadtest\n") and "350" in section and "zero errors 50" in section
    bench = "# Benchmarks\n\nintro\n\n## stream\n\nold stream\n\n## inline\n\nold inline\n"
    recorded = replace_section(bench, "loadtest", section)
    assert list(sections(recorded)) == ["stream", "inline", "loadtest"]
    again = replace_section(recorded, "loadtest", section.replace("350", "351"))
    assert again.count("## loadtest") == 1 and "351" in again and "old inline" in again
    middle = replace_section(recorded, "stream", "## stream\n\nnew stream\n")
    assert list(sections(middle)) == ["stream", "inline", "loadtest"] and "old stream" not in middle
    regenerated = "# Benchmarks\n\n## stream\n\nnewer\n"
    carried = carry_sections(recorded, regenerated, ("loadtest",))
    assert sections(carried)["loadtest"] == sections(recorded)["loadtest"]
    assert "newer" in carried


def test_breakdown_reads_mean_time_per_batch_from_a_workers_metrics() -> None:
    from prometheus_client import generate_latest

    from streams.metrics import ScreenMetrics

    metrics = ScreenMetrics()
    observe = metrics.observer("stream")
    for seconds in (0.010, 0.030):
        observe.detector_seconds("price", "detect", seconds)
    metrics.state_observer("http")("fetch", 0.004, True)
    metrics.state_observer("http")("fetch", 9.0, False)  # an error: counted apart, not timed
    found = breakdown(generate_latest(metrics.registry).decode())
    (price,) = found["haze_detector_seconds"]
    assert price == {
        "path": "stream",
        "detector": "price",
        "stage": "detect",
        "batches": 2,
        "mean_ms": 20.0,
        "total_s": 0.04,
    }
    assert found["haze_redis_seconds"] == [
        {"path": "http", "operation": "fetch", "batches": 1, "mean_ms": 4.0, "total_s": 0.004}
    ]
    run = _run()
    run.breakdown = found
    section = render_section(write(Path(tempfile.mkdtemp()), run), "x")
    assert "| stream | price detect | 2 | 20.00 |" in section
