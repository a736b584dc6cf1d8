"""The Grafana dashboard and the alert rules only name metrics that the worker exports."""

from __future__ import annotations

import json

import pytest

from streams.faust_metrics import FaustCollector
from streams.metrics import ScreenMetrics
from tests.promql import (
    BUILTIN,
    DASHBOARD,
    alert_exprs,
    dashboard_exprs,
    metric_names,
)

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported_series() -> set[str]:
    """Every series name the worker's registry can expose (families expanded by type)."""
    metrics = ScreenMetrics()
    collector = FaustCollector(app=None)  # describe() needs no app
    families = [
        family
        for metric in vars(metrics).values()
        if hasattr(metric, "describe") and hasattr(metric, "_name")
        for family in metric.describe()
    ]
    families += list(collector.describe())
    metrics.registry.register(collector)  # names are unique across the two
    return {family.name + suffix for family in families for suffix in _SUFFIXES[family.type]}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y",z=~"$v"}[5m]))', {"a_bucket"}),
        (
            "sum(rate(a_total[1m])) / ignoring(decision) group_left sum(b_total)",
            {"a_total", "b_total"},
        ),
        (
            'histogram_quantile(0.99, sum by (le, path) (rate(c_bucket{p="s"}[$__rate_interval])))',
            {"c_bucket"},
        ),
        ("label_values(haze_config_info, instance)", {"haze_config_info"}),
        ('up{job="haze"} == 0 and deriv(x[10m:1m]) > 0', {"up", "x"}),
    ],
)
def test_metric_names_are_read_out_of_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_dashboard_and_alert_metric_is_exported() -> None:
    known = exported_series() | BUILTIN
    assert "haze_consumer_lag" in known and "haze_detector_seconds_bucket" in known
    exprs = dashboard_exprs() + alert_exprs()
    assert len(exprs) > 30
    unknown = {
        (where, name) for where, expr in exprs for name in metric_names(expr) if name not in known
    }
    assert not unknown, f"metrics not exported by the worker: {sorted(unknown)}"


def test_the_dashboard_shows_every_metric_the_sensor_defines() -> None:
    """Nothing the worker exports is left off the dashboard (a metric nobody sees rots)."""
    used = {name for _, expr in dashboard_exprs() for name in metric_names(expr)}
    base = {
        name.removesuffix(suffix)
        for name in used
        for suffix in ("_total", "_bucket", "_sum", "_count", "")
        if name.endswith(suffix)
    }
    families = {name for name in exported_series() if not name.endswith("_created")}
    missing = {
        name for name in families if not any(name == b or name.startswith(b + "_") for b in base)
    }
    assert not missing, f"exported but on no dashboard panel: {sorted(missing)}"


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_every_exported_metric_is_documented_for_operators() -> None:
    text = (DASHBOARD.parent.parent.parent / "docs" / "operations.md").read_text()
    families = {
        name.removesuffix("_total")
        for name in exported_series()
        if not name.endswith(("_created", "_bucket", "_sum", "_count"))
    }
    histograms = {
        name.removesuffix("_bucket") for name in exported_series() if name.endswith("_bucket")
    }
    missing = sorted(
        name
        for name in families | histograms
        if f"`{name}`" not in text and f"`{name}_total`" not in text
    )
    assert not missing, f"not in docs/operations.md: {missing}"
