"""The backtest report: one JSON-able document, rendered as terminal tables and Markdown.

The document is the source of truth (``report.json``); both renderings read only from it, so
what a person reads in the terminal is what the file holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haze.backtest.errors import LineProblem
from haze.backtest.labels import Positive, describe
from haze.backtest.metrics import Confusion, by_class, by_code, compare, confusion
from haze.backtest.runner import Row

FORMAT_VERSION = 1
DECISIONS = ("allow", "review", "block")


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: which config, where its state lived, and its rows."""

    name: str
    config_path: str
    config_version: str
    rows: Sequence[Row]
    state: str
    removed_keys: int = 0


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists, floats rounded for a readable file."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def run_section(run: RunResult, positive: Positive) -> dict[str, Any]:
    return {
        "name": run.name,
        "config": run.config_path,
        "config_version": run.config_version,
        "state": run.state,
        "removed_keys": run.removed_keys,
        "overall": _plain(confusion(run.rows, positive)),
        "by_class": _plain(by_class(run.rows, positive)),
        "by_code": _plain(by_code(run.rows, positive)),
    }


def build_report(
    *,
    positive: Positive,
    inputs: dict[str, Any],
    runs: Sequence[RunResult],
    skipped: Sequence[LineProblem] = (),
    sweep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report. Two runs are compared (the second is the candidate)."""
    report: dict[str, Any] = {
        "haze_backtest": FORMAT_VERSION,
        "positive": positive,
        "definitions": describe(positive),
        "inputs": inputs,
        "skipped_lines": [str(problem) for problem in skipped],
        "runs": [run_section(run, positive) for run in runs],
    }
    if len(runs) == 2:
        report["comparison"] = _plain(compare(runs[0].rows, runs[1].rows, positive))
    if sweep is not None:
        report["sweep"] = sweep
    return report


def sweep_section(
    field: str,
    current: float,
    values: Sequence[float],
    steps: Sequence[Confusion],
    versions: Sequence[str],
    chart: str | None,
) -> dict[str, Any]:
    return {
        "field": field,
        "current": current,
        "chart": chart,
        "steps": [
            {"value": value, "config_version": version, "overall": _plain(step)}
            for value, step, version in zip(values, steps, versions, strict=True)
        ],
    }


# -- rendering ------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _signed(value: int) -> str:
    return f"{value:+d}"


class _Table:
    def __init__(self, headers: Sequence[str], numeric_from: int = 1) -> None:
        self.headers = list(headers)
        self.rows: list[list[str]] = []
        self.numeric_from = numeric_from

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def text(self) -> str:
        widths = [
            max(len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(self.headers))
        ]

        def line(cells: list[str]) -> str:
            return "  ".join(
                cell.rjust(w) if i >= self.numeric_from else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(self.headers), rule, *(line(row) for row in self.rows)])

    def markdown(self) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

        align = ["---:" if i >= self.numeric_from else "---" for i in range(len(self.headers))]
        rows = [line(self.headers), "| " + " | ".join(align) + " |"]
        return "\n".join(rows + [line(row) for row in self.rows])


def _overall(report: dict[str, Any]) -> _Table:
    table = _Table(
        ["run", "config_version", "n", *DECISIONS, "TP", "FP", "FN", "TN",
         "precision", "recall", "FPR", "review", "automation"],
        numeric_from=2,
    )  # fmt: skip
    for run in report["runs"]:
        o = run["overall"]
        d = o["decisions"]
        table.add(
            run["name"], run["config_version"], o["n"], d["allow"], d["review"], d["block"],
            o["tp"], o["fp"], o["fn"], o["tn"], _pct(o["precision"]), _pct(o["recall"]),
            _pct(o["false_positive_rate"]), _pct(o["review_share"]), _pct(o["automation_rate"]),
        )  # fmt: skip
    return table


def _matrix(run: dict[str, Any]) -> _Table:
    table = _Table(["actual \\ decision", *DECISIONS, "total"])
    for side, counts in run["overall"]["matrix"].items():
        table.add(side, *(counts[d] for d in DECISIONS), sum(counts.values()))
    return table


def _classes(run: dict[str, Any]) -> _Table:
    table = _Table(["class", "side", "n", *DECISIONS, "recall", "FPR", "review"], numeric_from=2)
    for label, c in run["by_class"].items():
        d = c["decisions"]
        table.add(
            label, c["side"], c["n"], d["allow"], d["review"], d["block"],
            _pct(c["recall"]), _pct(c["false_positive_rate"]), _pct(c["review_share"]),
        )  # fmt: skip
    return table


def _codes(run: dict[str, Any]) -> _Table:
    table = _Table(
        ["code", "n", "suspicious", "legit", *DECISIONS, "precision", "recall", "FPR", "review"]
    )
    for code, c in run["by_code"].items():
        d = c["decisions"]
        table.add(
            code, c["n"], c["suspicious"], c["legitimate"], d["allow"], d["review"], d["block"],
            _pct(c["precision"]), _pct(c["recall"]), _pct(c["false_positive_rate"]),
            _pct(c["review_share"]),
        )  # fmt: skip
    return table


def _changes(comparison: dict[str, Any], limit: int) -> tuple[str, str, _Table | None]:
    delta = comparison["delta"]
    summary = (
        f"suspicious caught (TP) {_signed(delta['tp'])}, legitimate predicted positive (FP) "
        f"{_signed(delta['fp'])}, missed (FN) {_signed(delta['fn'])}; decisions: allow "
        f"{_signed(delta['allow'])}, review {_signed(delta['review'])}, block "
        f"{_signed(delta['block'])}"
    )
    moves = ", ".join(f"{k} {v}" for k, v in comparison["transitions"].items()) or "none"
    changed = comparison["changed"]
    if not changed:
        return summary, f"transitions: {moves}", None
    table = _Table(
        [
            "line",
            "listing_id",
            "rev",
            "label",
            "baseline",
            "candidate",
            "scores",
            "candidate codes",
        ],
        numeric_from=99,
    )
    for change in changed[:limit]:
        table.add(
            change["line"], change["listing_id"], change["revision"], change["label"],
            change["baseline"], change["candidate"],
            f"{change['baseline_score']:.3f} -> {change['candidate_score']:.3f}",
            " ".join(change["candidate_codes"]) or "-",
        )  # fmt: skip
    return summary, f"transitions: {moves}", table


def _sweep(sweep: dict[str, Any]) -> _Table:
    table = _Table(
        [sweep["field"], *DECISIONS, "TP", "FP", "FN", "precision", "recall", "FPR",
         "review", "automation"],
        numeric_from=0,
    )  # fmt: skip
    for step in sweep["steps"]:
        o = step["overall"]
        d = o["decisions"]
        mark = " *" if step["value"] == sweep["current"] else ""
        table.add(
            f"{step['value']:g}{mark}", d["allow"], d["review"], d["block"], o["tp"], o["fp"],
            o["fn"], _pct(o["precision"]), _pct(o["recall"]), _pct(o["false_positive_rate"]),
            _pct(o["review_share"]), _pct(o["automation_rate"]),
        )  # fmt: skip
    return table


def _header(report: dict[str, Any]) -> list[str]:
    inputs = report["inputs"]
    parts = [f"labelled {inputs['labelled']} ({inputs['labelled_listings']:,} listings)"]
    if inputs.get("warmup"):
        parts.append(f"warm-up {inputs['warmup']} ({inputs['warmup_listings']:,})")
    if inputs.get("feedback"):
        parts.append(f"feedback {inputs['feedback']} ({inputs['feedback_records']:,})")
    d = report["definitions"]
    lines = [
        "inputs: " + "; ".join(parts),
        f"positive = {report['positive']}: predicted positive when the {d['predicted_positive']};"
        " actual positive when the label is a suspicious class",
        f"batches of {inputs['batch_size'] or 'stream.batch_size'}, event time from created_at",
    ]
    for run in report["runs"]:
        removed = (
            f", {run['removed_keys']:,} keys removed after" if run["state"] != "memory" else ""
        )
        lines.append(f"state of {run['name']}: {run['state']}{removed}")
    if report["skipped_lines"]:
        lines.append(f"skipped {len(report['skipped_lines'])} invalid lines (listed in the JSON)")
    return lines


def _sections(report: dict[str, Any], changed_limit: int) -> list[tuple[str, list[Any]]]:
    """(title, blocks) in reading order; a block is a table or a line of text."""
    sections: list[tuple[str, list[Any]]] = [("Overall", [_overall(report)])]
    if "sweep" in report:
        sweep = report["sweep"]
        blocks: list[Any] = [_sweep(sweep), "The value marked * is the config file's."]
        if sweep.get("chart"):
            blocks.append(f"chart: {sweep['chart']}")
        sections.append((f"Sweep of {sweep['field']}", blocks))
    for run in report["runs"]:
        sections.append((f"Confusion matrix: {run['name']}", [_matrix(run)]))
        sections.append((f"Per label class: {run['name']}", [_classes(run)]))
        sections.append((f"Per reason code: {run['name']}", [_codes(run)]))
    if "comparison" in report:
        summary, moves, table = _changes(report["comparison"], changed_limit)
        count = len(report["comparison"]["changed"])
        blocks = [summary, moves]
        if table is not None:
            shown = min(count, changed_limit)
            blocks += [
                f"{count} listings changed decision (first {shown} here, all in JSON):",
                table,
            ]
        sections.append(("Candidate vs baseline", blocks))
    return sections


def render_text(report: dict[str, Any], *, changed_limit: int = 20) -> str:
    out = ["Haze backtest", *(f"  {line}" for line in _header(report))]
    for title, blocks in _sections(report, changed_limit):
        out += ["", title]
        out += [b.text() if isinstance(b, _Table) else str(b) for b in blocks]
    return "\n".join(out) + "\n"


def render_markdown(report: dict[str, Any], *, changed_limit: int = 200) -> str:
    d = report["definitions"]
    out = ["# Haze backtest", "", *(f"- {line}" for line in _header(report)), "", "## Definitions"]
    out += ["", *(f"- **{name.replace('_', ' ')}**: {text}" for name, text in d.items())]
    for title, blocks in _sections(report, changed_limit):
        out += ["", f"## {title}"]
        for block in blocks:
            if isinstance(block, _Table):
                out += ["", block.markdown()]
            elif str(block).startswith("chart: "):
                path = str(block)[len("chart: ") :]
                out += ["", f"![sweep chart]({path.rsplit('/', 1)[-1]})"]
            else:
                out += ["", str(block)]
    return "\n".join(out).rstrip() + "\n"
