"""The inline path under a rate ladder: one headless locust run per target rate.

Locust runs as a subprocess (importing it patches sockets with gevent, which must not happen in
the orchestrator or in pytest). Each step is bounded by its duration (``-t``) and a stop
timeout; its user count is the target rate, since every user sends one request per second on a
random phase of its own (``loadtest/locustfile.py``, ``loadtest/pacing.py``). Server-side
percentiles come from the worker's own ``haze_http_request_seconds`` histogram, scraped before
and after the step; client-side ones from locust's JSON totals, and the per-second history from
its ``_stats_history.csv``.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from haze.services import ROOT
from loadtest.promtext import difference, histogram_buckets, quantile

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
ENDPOINT = "/v1/screen"


@dataclass
class HttpStep:
    rate: float
    seconds: float
    requests: int = 0
    failures: int = 0
    client_p50_ms: float = math.nan
    client_p99_ms: float = math.nan
    server_p50_ms: float = math.nan
    server_p99_ms: float = math.nan
    history: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "target_rps": self.rate,
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "errors": self.failures,
            "server_p50_ms": round(self.server_p50_ms, 3),
            "server_p99_ms": round(self.server_p99_ms, 3),
            "client_p50_ms": round(self.client_p50_ms, 1),
            "client_p99_ms": round(self.client_p99_ms, 1),
            **({"error": self.error} if self.error else {}),
        }


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def run_step(port: int, rate: int, seconds: int, workdir: Path, env: Mapping[str, str]) -> HttpStep:
    """One locust run at ``rate`` requests/s for ``seconds`` against 127.0.0.1:``port``."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = workdir / f"locust_{rate}"
    before = histogram_buckets(scrape(port), "haze_http_request_seconds", endpoint="screen")
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(rate),
        "-r",
        str(rate),
        "-t",
        f"{seconds}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--json-file",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    result = subprocess.run(
        argv,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=seconds + 120,
    )
    after = histogram_buckets(scrape(port), "haze_http_request_seconds", endpoint="screen")
    step = HttpStep(float(rate), float(seconds))
    json_path = Path(f"{prefix}.json")
    if not json_path.exists():
        step.error = f"locust exited {result.returncode}: {result.stderr.decode()[-500:]}"
        return step
    totals = read_totals(orjson.loads(json_path.read_bytes()))
    step.requests, step.failures = totals["requests"], totals["failures"]
    step.client_p50_ms, step.client_p99_ms = totals["p50_ms"], totals["p99_ms"]
    window = difference(after, before)
    step.server_p50_ms = quantile(window, 0.50) * 1000.0
    step.server_p99_ms = quantile(window, 0.99) * 1000.0
    history = Path(f"{prefix}_stats_history.csv")
    if history.exists():
        step.history = read_history(history.read_text())
    return step


def read_totals(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests, failures and client percentiles of ``POST /v1/screen`` from locust's JSON."""
    entry = next((s for s in stats if s.get("name") == ENDPOINT), None)
    if entry is None:
        return {"requests": 0, "failures": 0, "p50_ms": math.nan, "p99_ms": math.nan}
    times = sorted((float(ms), int(n)) for ms, n in (entry.get("response_times") or {}).items())
    return {
        "requests": int(entry["num_requests"]),
        "failures": int(entry["num_failures"]),
        "p50_ms": _rank(times, 0.50),
        "p99_ms": _rank(times, 0.99),
    }


def _rank(times: list[tuple[float, int]], q: float) -> float:
    total = sum(n for _, n in times)
    seen = 0
    for ms, n in times:
        seen += n
        if seen >= q * total:
            return ms
    return math.nan


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "N/A") else math.nan
    except ValueError:
        return math.nan


def read_history(text: str) -> list[dict[str, float]]:
    """Locust's per-second rows for the endpoint: time, rps, failures/s and the percentiles
    of its rolling window (locust's "current" response times, the last ~10 s)."""
    rows = []
    for row in csv.DictReader(text.splitlines()):
        if row.get("Name") != ENDPOINT:
            continue
        rows.append(
            {
                "timestamp": _number(row.get("Timestamp")),
                "users": _number(row.get("User Count")),
                "rps": _number(row.get("Requests/s")),
                "failures_per_s": _number(row.get("Failures/s")),
                "p50_ms": _number(row.get("50%")),
                "p90_ms": _number(row.get("90%")),
                "p99_ms": _number(row.get("99%")),
            }
        )
    return rows


def best_step(steps: list[HttpStep], *, min_share: float = 0.9) -> HttpStep | None:
    """The highest-rate step with zero errors that reached ``min_share`` of its target."""
    good = [s for s in steps if not s.error and s.failures == 0 and s.rps >= min_share * s.rate]
    return max(good, key=lambda s: s.rate) if good else None
