"""Where the deployment files keep their PromQL, and which metric names an expression uses.

Shared by the dashboard unit test (every name must exist in the sensor) and the Prometheus
integration test (every expression must parse and answer on a real server)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "haze.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
BUILTIN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)")
_NAME = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (functions, keywords, labels and durations left out)."""
    text = _LABEL_VALUES.sub(r"\1", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _CLAUSES.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_exprs() -> list[tuple[str, str]]:
    """``(where, expr)`` for every query of the Grafana dashboard, variables included."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            found.append((f"variable {variable['name']}", query.get("query", query)))
    return found


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [
        (f"alert {rule['alert']}", str(rule["expr"]))
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def runnable(expr: str) -> str:
    """A dashboard expression with Grafana's variables filled in, for a real server."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace('=~"$instance"', '=~".*"')
        .replace("$instance", ".*")
    )
