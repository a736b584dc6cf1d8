"""The report of a ``make loadtest`` run: ``summary.json``, CSV time series, a PNG chart, and
the ``## loadtest`` section of ``docs/benchmarks.md``.

Everything here is a pure function of the collected results (:class:`LoadRun`), so the report
is tested without running a load.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loadtest.http_steps import HttpStep, best_step
from loadtest.series import Point, per_second, percentiles, steady_rate
from loadtest.stream_harness import StreamReport

SECTION = "loadtest"


@dataclass
class StreamPhase:
    """One stream run: ``target_rate`` 0 means as fast as the producer can go."""

    name: str
    target_rate: float
    report: StreamReport

    def points(self) -> list[Point]:
        return per_second(self.report.verdict_times_s, self.report.latencies_ms)

    @property
    def kept_up(self) -> bool:
        """Every listing got its verdict, and at a paced rate the latency stayed flat: the
        median of the last quarter of verdicts at most twice the first quarter's (+100 ms).
        A worker that falls behind builds a queue, and its latency grows without bound."""
        r = self.report
        if r.verdicts != r.produced or not r.latencies_ms:
            return False
        if self.target_rate <= 0:
            return True
        order = np.argsort(np.asarray(r.verdict_times_s), kind="stable")
        latencies = np.asarray(r.latencies_ms)[order]
        quarter = max(1, len(latencies) // 4)
        early, late = np.median(latencies[:quarter]), np.median(latencies[-quarter:])
        return bool(late <= 2.0 * early + 100.0)

    def summary(self) -> dict[str, Any]:
        r = self.report
        return {
            "phase": self.name,
            "target_lps": self.target_rate or "max",
            "produced": r.produced,
            "verdicts": r.verdicts,
            "dead_letters": r.dead_letters,
            "complaints": r.complaints,
            "throughput_lps": round(steady_rate(r.verdict_times_s), 1),
            "kept_up": self.kept_up,
            **percentiles(r.latencies_ms),
            "decisions": dict(r.decisions),
        }


@dataclass
class LoadRun:
    started_at: str
    workers: int
    partitions: int
    settings: dict[str, Any]
    machine: dict[str, Any]
    stream: list[StreamPhase] = field(default_factory=list)
    http: list[HttpStep] = field(default_factory=list)
    breakdown: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Where the first worker's time went over the whole run (:func:`breakdown`)."""

    def phase(self, name: str) -> StreamPhase | None:
        return next((p for p in self.stream if p.name == name), None)

    def sustained(self) -> StreamPhase | None:
        """The highest paced rate that kept up (else the last paced run)."""
        paced = [p for p in self.stream if p.name == "sustained"]
        kept = [p for p in paced if p.kept_up]
        if kept:
            return max(kept, key=lambda p: p.target_rate)
        return paced[-1] if paced else None


def summary(run: LoadRun) -> dict[str, Any]:
    best = best_step(run.http)
    sustained = run.sustained()
    capacity = run.phase("capacity")
    return {
        "started_at": run.started_at,
        "workers": run.workers,
        "partitions": run.partitions,
        "machine": run.machine,
        "settings": run.settings,
        "stream": [phase.summary() for phase in run.stream],
        "http": [step.summary() for step in run.http],
        "breakdown": run.breakdown,
        "headline": {
            "capacity_lps": capacity.summary()["throughput_lps"] if capacity else None,
            "sustained_lps": sustained.target_rate if sustained else None,
            "sustained_measured_lps": sustained.summary()["throughput_lps"] if sustained else None,
            "sustained_kept_up": sustained.summary()["kept_up"] if sustained else None,
            "sustained_p99_ms": sustained.summary()["p99_ms"] if sustained else None,
            "inline_best_rps": best.summary()["rps"] if best else None,
            "inline_best_p50_ms": best.summary()["server_p50_ms"] if best else None,
            "inline_best_p99_ms": best.summary()["server_p99_ms"] if best else None,
        },
    }


def breakdown(metrics_text: str) -> dict[str, list[dict[str, Any]]]:
    """Mean time per batch of each detector stage and Redis operation, by path, from a worker's
    ``/metrics`` text (its histograms' ``_sum`` and ``_count``)."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {
        "haze_detector_seconds": ("path", "detector", "stage"),
        "haze_redis_seconds": ("path", "operation"),
        "haze_produce_seconds": ("path",),
        "haze_batch_seconds": ("path",),
    }
    totals: dict[str, dict[tuple[str, ...], list[float]]] = {name: {} for name in wanted}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in wanted:
            continue
        for sample in family.samples:
            suffix = sample.name.removeprefix(family.name)
            if suffix not in ("_sum", "_count"):
                continue
            key = tuple(sample.labels.get(label, "") for label in wanted[family.name])
            entry = totals[family.name].setdefault(key, [0.0, 0.0])
            entry[0 if suffix == "_sum" else 1] += sample.value
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in totals.items():
        out[name] = [
            {
                **dict(zip(wanted[name], key, strict=True)),
                "batches": int(count),
                "mean_ms": round(1000.0 * total / count, 3),
                "total_s": round(total, 3),
            }
            for key, (total, count) in sorted(rows.items())
            if count
        ]
    return out


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write(folder: Path, run: LoadRun) -> dict[str, Any]:
    """Write every file of the report into ``folder``; returns the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = _clean(summary(run))
    (folder / "summary.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    with open(folder / "stream_timeseries.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["phase", "second", "verdicts", "verdicts_per_s", "p50_ms", "p90_ms", "p99_ms"]
        )
        for phase in run.stream:
            for p in phase.points():
                writer.writerow(
                    [
                        phase.name,
                        p.second,
                        p.count,
                        p.rate,
                        _f(p.p50_ms),
                        _f(p.p90_ms),
                        _f(p.p99_ms),
                    ]
                )
    with open(folder / "http_steps.csv", "w", newline="") as out:
        rows = [step.summary() for step in run.http]
        fields = [
            "target_rps",
            "rps",
            "requests",
            "errors",
            "server_p50_ms",
            "server_p99_ms",
            "client_p50_ms",
            "client_p99_ms",
        ]
        writer = csv.writer(out)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_f(row[name]) for name in fields])
    with open(folder / "http_timeseries.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["target_rps", "second", "users", "rps", "failures_per_s", "p50_ms", "p90_ms", "p99_ms"]
        )
        for step in run.http:
            start = step.history[0]["timestamp"] if step.history else 0.0
            for h in step.history:
                writer.writerow(
                    [step.rate, h["timestamp"] - start, h["users"], h["rps"], h["failures_per_s"]]
                    + [_f(h[k]) for k in ("p50_ms", "p90_ms", "p99_ms")]
                )
    chart(folder / "loadtest.png", run)
    return doc


def _f(value: Any) -> Any:
    return "" if isinstance(value, float) and not math.isfinite(value) else value


def chart(path: Path, run: LoadRun) -> None:
    """Throughput and p50/p90/p99 over time for both paths, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8), constrained_layout=True)
    (stream_rate, stream_lat), (http_rate, http_lat) = axes
    paced_styles = iter(["-", "--", "-.", (0, (5, 1, 1, 1))] * 4)
    for phase in run.stream:
        points = phase.points()
        xs = [p.second for p in points]
        style: Any = ":" if phase.target_rate <= 0 else next(paced_styles)
        label = f"{phase.name} {f'{phase.target_rate:g}/s' if phase.target_rate else 'max'}"
        stream_rate.plot(xs, [p.rate for p in points], linestyle=style, label=label)
        for key, colour in (
            ("p50_ms", "tab:green"),
            ("p90_ms", "tab:orange"),
            ("p99_ms", "tab:red"),
        ):
            stream_lat.plot(
                xs,
                [getattr(p, key) for p in points],
                linestyle=style,
                color=colour,
                label=f"{label} {key[:3]}",
            )
    stream_rate.set(
        title="Stream: verdicts per second", xlabel="seconds into phase", ylabel="listings/s"
    )
    stream_lat.set(
        title="Stream: produce-to-verdict latency", xlabel="seconds into phase", ylabel="ms"
    )
    offset = 0.0
    for step in run.http:
        if not step.history:
            continue
        start = step.history[0]["timestamp"]
        xs = [offset + h["timestamp"] - start for h in step.history]
        http_rate.plot(xs, [h["rps"] for h in step.history], label=f"{step.rate:g} target")
        for key, colour in (
            ("p50_ms", "tab:green"),
            ("p90_ms", "tab:orange"),
            ("p99_ms", "tab:red"),
        ):
            http_lat.plot(
                xs,
                [h[key] for h in step.history],
                color=colour,
                label=key[:3] if offset == 0 else None,
            )
        offset = xs[-1] + 1.0
    http_rate.set(
        title="Inline POST /v1/screen: requests per second (rate ladder)",
        xlabel="seconds",
        ylabel="requests/s",
    )
    http_lat.set(
        title="Inline: client latency (locust, rolling 10 s)", xlabel="seconds", ylabel="ms"
    )
    for ax in (stream_lat, http_lat):
        # a log axis needs a positive value to scale to (a short run may have none yet)
        if any(np.any(np.asarray(line.get_ydata()) > 0) for line in ax.lines):
            ax.set_yscale("log")
    for ax in axes.flat:
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"make loadtest {run.started_at}: {run.workers} worker(s), {run.partitions} partitions"
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ms(value: Any) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and not math.isfinite(value))
        else f"{value:,.1f}"
    )


def render_section(doc: dict[str, Any], results_name: str) -> str:
    """The ``## loadtest`` section of ``docs/benchmarks.md`` from a report's summary."""
    head = doc["headline"]
    machine = doc.get("machine", {})
    lines = [
        f"## {SECTION}",
        "",
        f"Written by `make loadtest` (`loadtest/report.py`) from `results/{results_name}/` on "
        f"{machine.get('cpu', 'unknown CPU')} ({machine.get('cores', '?')} cores), "
        f"{doc['workers']} worker(s), {doc['partitions']} partitions, Kafka, Redis, the workers "
        "and the load generators all on this machine (shared with other jobs: noisy).",
        "",
        "| stream phase | target listings/s | produced | verdicts | listings/s "
        "| p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in doc["stream"]:
        lines.append(
            f"| {phase['phase']} | {phase['target_lps']} | {phase['produced']:,} | "
            f"{phase['verdicts']:,} | {_ms(phase['throughput_lps'])} | {_ms(phase['p50_ms'])} | "
            f"{_ms(phase['p90_ms'])} | {_ms(phase['p99_ms'])} |"
        )
    lines += [
        "",
        "| inline target rps | rps | requests | errors | server p50 ms | server p99 ms "
        "| client p50 ms | client p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step in doc["http"]:
        lines.append(
            f"| {step['target_rps']:g} | {_ms(step['rps'])} | {step['requests']:,} | "
            f"{step['errors']} | "
            f"{_ms(step['server_p50_ms'])} | {_ms(step['server_p99_ms'])} | "
            f"{_ms(step['client_p50_ms'])} | {_ms(step['client_p99_ms'])} |"
        )
    detectors = doc.get("breakdown", {}).get("haze_detector_seconds", [])
    redis = doc.get("breakdown", {}).get("haze_redis_seconds", [])
    if detectors or redis:
        lines += [
            "",
            "Where the worker's time went over the whole run (its own histograms: mean per "
            "batch, and total):",
            "",
            "| path | step | batches | mean ms | total s |",
            "|---|---|---|---|---|",
        ]
        for row in detectors:
            lines.append(
                f"| {row['path']} | {row['detector']} {row['stage']} | {row['batches']:,} | "
                f"{row['mean_ms']:,.2f} | {row['total_s']:,.1f} |"
            )
        for row in redis:
            lines.append(
                f"| {row['path']} | redis {row['operation']} | {row['batches']:,} | "
                f"{row['mean_ms']:,.2f} | {row['total_s']:,.1f} |"
            )
        for name, what in (
            ("haze_produce_seconds", "kafka produce"),
            ("haze_batch_seconds", "whole batch"),
        ):
            for row in doc.get("breakdown", {}).get(name, []):
                lines.append(
                    f"| {row['path']} | {what} | {row['batches']:,} | "
                    f"{row['mean_ms']:,.2f} | {row['total_s']:,.1f} |"
                )
    lines += ["", "Headline:", ""]
    if head.get("sustained_lps") is not None and head.get("sustained_kept_up"):
        lines.append(
            f"- stream: {_ms(head['sustained_lps'])} listings/s sustained through "
            f"{doc['workers']} worker(s) with flat latency (verdicts measured at "
            f"{_ms(head.get('sustained_measured_lps'))}/s), p99 produce-to-verdict "
            f"{_ms(head['sustained_p99_ms'])} ms; a backlog drains at "
            f"{_ms(head.get('capacity_lps'))} listings/s."
        )
    elif head.get("sustained_lps") is not None:
        lines.append(
            f"- stream: no paced rate tried kept its latency flat through {doc['workers']} "
            f"worker(s); at the lowest, {_ms(head['sustained_lps'])} listings/s, p99 "
            f"produce-to-verdict was {_ms(head['sustained_p99_ms'])} ms; a backlog drains at "
            f"{_ms(head.get('capacity_lps'))} listings/s."
        )
    if head.get("inline_best_rps") is not None:
        lines.append(
            f"- inline: highest rate with zero errors {_ms(head['inline_best_rps'])} requests/s, "
            f"server-side p50 {_ms(head['inline_best_p50_ms'])} ms, p99 "
            f"{_ms(head['inline_best_p99_ms'])} ms."
        )
    elif doc["http"]:
        lines.append("- inline: no step finished without errors at 90% of its target rate.")
    lines += [
        "",
        "Stream: `capacity` produces a backlog as fast as the generator can and measures the "
        "verdict rate between the first and last verdict; `sustained` paces listings at a fixed "
        "rate (first 70% of capacity, then 70% of what was managed while the workers fall "
        "behind) and measures each listing's produce-to-verdict latency (its verdict's broker "
        "timestamp minus the moment it was handed to the producer); the sustained rate is the "
        "highest paced rate whose latency stayed flat (last quarter's median at most twice the "
        "first quarter's). Inline: one headless locust "
        "run per target rate (one request per user per second, each user on a timetable with a "
        "random phase so that arrivals spread over the second: `loadtest/pacing.py`; "
        "FastHttpUser), server-side "
        "percentiles from the worker's `haze_http_request_seconds` histogram (interpolated "
        "within its buckets), client ones from locust.",
        "",
        "![throughput and latency percentiles over time](loadtest.png)",
        "",
    ]
    return "\n".join(lines)
