"""The sweep chart: precision, recall, false positive rate and review share against the value."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from haze.backtest.metrics import Confusion


def sweep_chart(
    path: Path,
    field: str,
    values: Sequence[float],
    steps: Sequence[Confusion],
    *,
    positive: str,
    current: float | None = None,
) -> Path:
    """Write the PNG (matplotlib's Agg backend: no display needed) and return its path."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt

    def series(name: str) -> list[float]:
        # a rate with no denominator is a gap in the line, not a 0
        return [float("nan") if getattr(s, name) is None else getattr(s, name) for s in steps]

    figure, axes = plt.subplots(figsize=(8, 4.8), dpi=110)
    try:
        axes.plot(values, series("precision"), marker="o", label="precision")
        axes.plot(values, series("recall"), marker="o", label="recall")
        axes.plot(values, series("review_share"), marker="s", label="review share")
        axes.plot(
            values, series("false_positive_rate"), marker="^", linestyle="--", label="FPR (legit)"
        )
        if current is not None:
            axes.axvline(current, color="grey", linestyle=":", label=f"current ({current:g})")
        axes.set_xlabel(field)
        axes.set_ylabel("share")
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"Backtest sweep of {field} (positive = {positive})")
        axes.grid(alpha=0.3)
        axes.legend(loc="best", fontsize="small")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path
