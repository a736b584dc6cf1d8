"""``haze backtest``: replay a labelled file under one or two configs (or a sweep) and report.

Parsing is declared here and the work imported only when the command runs, so ``haze --help``
stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haze.backtest.errors import LineProblem
    from haze.backtest.labels import Positive
    from haze.backtest.progress import Progress
    from haze.backtest.report import RunResult
    from haze.backtest.runner import Inputs
    from haze.runtime import Runtime


def add_parser(sub: Any) -> None:
    """Declare the ``backtest`` subcommand on ``haze``'s subparsers."""
    parser = sub.add_parser(
        "backtest",
        help="replay a labelled listing file through the real detectors and report",
        description=(
            "Replay labelled listings (JSON Lines, contract listing format plus a 'label' "
            "field) through the real detectors and decision step, in isolated state, under a "
            "baseline config and optionally a candidate or a sweep of one threshold. Reports "
            "precision, recall, false positive rate and review share overall, per label class "
            "and per reason code, and the listings whose decision changed. "
            "See docs/backtesting.md."
        ),
    )
    parser.add_argument("labelled", type=Path, help="labelled listings (JSON Lines)")
    parser.add_argument(
        "--config", type=Path, help="baseline thresholds file (default: SCREEN_CONFIG)"
    )
    parser.add_argument("--candidate", type=Path, help="candidate thresholds file to compare")
    parser.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="a change for the candidate (on --candidate, else on the baseline), repeatable: "
        "--set decision.block_threshold=0.8",
    )
    parser.add_argument("--registry", type=Path, help="brand registry (default: SCREEN_REGISTRY)")
    parser.add_argument(
        "--warmup", type=Path, help="listings screened first to build the rolling state"
    )
    parser.add_argument(
        "--feedback", type=Path, help="feedback records applied after the warm-up (JSON Lines)"
    )
    parser.add_argument(
        "--sweep",
        metavar="FIELD=START:STOP:STEP",
        help="vary one threshold of the candidate (else the baseline), e.g. "
        "decision.block_threshold=0.5:0.95:0.05; draws sweep.png",
    )
    parser.add_argument(
        "--positive",
        choices=("block", "flagged"),
        default="block",
        help="what a positive prediction is: block (default; review reported apart) or "
        "flagged (review or block)",
    )
    parser.add_argument(
        "--memory", action="store_true", help="in-memory state instead of Redis (no Redis needed)"
    )
    parser.add_argument(
        "--redis-url", help="Redis for the isolated state (default: REDIS_URL); a key prefix "
        "of its own, deleted afterwards"
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, help="default: the config's stream.batch_size")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/backtest"),
        help="where report.json, report.md (and sweep.png) go (default: results/backtest)",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave invalid lines out (listed in the report) instead of stopping",
    )
    parser.add_argument(
        "--changed-limit",
        type=int,
        default=20,
        help="changed listings shown in the terminal (all are in report.json)",
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to run: named configs and, for a sweep, the varied field and its configs."""

    runs: list[tuple[str, str, Runtime]]
    sweep_field: str | None = None
    sweep_current: float | None = None
    sweep_steps: Sequence[tuple[float, Runtime]] = ()


def run(args: argparse.Namespace) -> int:
    from haze.backtest.errors import BacktestError

    if args.batch_size is not None and args.batch_size < 1:
        raise BacktestError("--batch-size must be at least 1")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\nhaze backtest: interrupted; the isolated state was removed", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    import orjson

    from config.registry import load_registry
    from config.settings import settings_from_env
    from contract.signals import SignalKeyer
    from haze.backtest.dataset import read_feedback, read_listings
    from haze.backtest.progress import Progress
    from haze.backtest.report import build_report, render_markdown, render_text
    from haze.backtest.runner import Inputs

    settings = settings_from_env()
    config_path = args.config or settings.config_path
    registry_path = args.registry or settings.registry_path
    registry, registry_digest = load_registry(registry_path)
    plan = _plan(args, config_path, registry, registry_digest)

    keyer = SignalKeyer(settings.signal_key)
    skip = args.skip_invalid
    labelled = read_listings(args.labelled, keyer, labelled=True, skip_invalid=skip)
    warmup = (
        read_listings(args.warmup, keyer, labelled=False, skip_invalid=skip)
        if args.warmup
        else None
    )
    feedback = read_feedback(args.feedback, skip_invalid=skip) if args.feedback else None
    skipped: list[LineProblem] = [
        *labelled.problems,
        *(warmup.problems if warmup else []),
        *(feedback.problems if feedback else []),
    ]
    inputs = Inputs(
        labelled.listings,
        warmup.listings if warmup else (),
        feedback.feedback if feedback else (),
    )
    redis_url = None if args.memory else (args.redis_url or settings.redis_url)
    total = inputs.listings * (len(plan.runs) + len(plan.sweep_steps))
    progress = Progress(total, "backtest")
    try:
        results, steps = asyncio.run(
            _execute(plan, inputs, redis_url, args.batch_size, int(time.time()), progress)
        )
    finally:
        progress.close()

    args.out.mkdir(parents=True, exist_ok=True)
    positive: Positive = args.positive
    sweep = _sweep_report(plan, steps, positive, args.out) if plan.sweep_field else None
    report = build_report(
        positive=positive,
        inputs={
            "labelled": str(args.labelled),
            "labelled_listings": len(inputs.labelled),
            "warmup": str(args.warmup) if args.warmup else None,
            "warmup_listings": len(inputs.warmup),
            "feedback": str(args.feedback) if args.feedback else None,
            "feedback_records": len(inputs.feedback),
            "batch_size": args.batch_size,
            "registry": str(registry_path),
        },
        runs=results,
        skipped=skipped,
        sweep=sweep,
    )
    (args.out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (args.out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    sys.stdout.write(render_text(report, changed_limit=args.changed_limit))
    written = ["report.json", "report.md"] + (["sweep.png"] if sweep else [])
    print(f"\nwrote {', '.join(str(args.out / name) for name in written)}")
    return 0


def _plan(args: argparse.Namespace, config_path: Path, registry: Any, digest: str) -> Plan:
    """Load and validate every config before anything runs (a bad one stops here)."""
    import hashlib

    import orjson

    from config.loader import read_yaml, validate
    from config.thresholds import ScreenConfig
    from haze.backtest.sweep import current_value, parse_sweep, sweep_configs
    from haze.backtest.variants import apply_sets
    from haze.runtime import Runtime

    def build(document: dict[str, Any], source: str, mark: str) -> tuple[ScreenConfig, Runtime]:
        config = validate(ScreenConfig, document, source)
        return config, Runtime.build(config, registry, digest=f"{mark[:6]}{digest[:6]}")

    def file_mark(raw: bytes) -> str:  # the digest a worker stamps for this file
        return hashlib.sha256(raw).hexdigest()

    base_doc, base_raw = read_yaml(config_path)
    base_config, base = build(base_doc, str(config_path), file_mark(base_raw))
    runs = [("baseline", str(config_path), base)]
    target = (base_doc, base_config, str(config_path))
    if args.candidate or args.set:
        path = args.candidate or config_path
        doc, raw = read_yaml(path) if args.candidate else (base_doc, base_raw)
        mark = file_mark(raw)
        if args.set:
            doc, _ = apply_sets(doc, validate(ScreenConfig, doc, str(path)), args.set, str(path))
            mark = hashlib.sha256(orjson.dumps(doc, default=str)).hexdigest()
        described = str(path) + "".join(f" --set {text}" for text in args.set or ())
        config, candidate = build(doc, described, mark)
        runs.append(("candidate", described, candidate))
        target = (doc, config, described)
    if not args.sweep:
        return Plan(runs)
    spec = parse_sweep(args.sweep)
    configs = sweep_configs(target[0], target[1], spec, target[2])
    steps = [(value, Runtime.build(c, registry, digest=digest[:6])) for value, c in configs]
    return Plan(runs, spec.field, current_value(target[1], spec.field), steps)


async def _execute(
    plan: Plan,
    inputs: Inputs,
    redis_url: str | None,
    batch_size: int | None,
    start: float,
    progress: Progress,
) -> tuple[list[RunResult], list[list[Any]]]:
    from haze.backtest.isolation import isolated_state
    from haze.backtest.report import RunResult
    from haze.backtest.runner import run_once

    async def one(runtime: Runtime, on_batch: Callable[[int], None]) -> tuple[list[Any], Any]:
        async with isolated_state(runtime.config, redis_url) as isolated:
            rows = await run_once(
                runtime, inputs, isolated.state, start=start, batch_size=batch_size,
                on_batch=on_batch,
            )  # fmt: skip
        return rows, isolated

    results = []
    for name, path, runtime in plan.runs:
        rows, isolated = await one(runtime, progress.advance)
        results.append(
            RunResult(name, path, runtime.config_version, rows, isolated.where, isolated.removed)
        )
    steps = []
    for _, runtime in plan.sweep_steps:
        rows, _ = await one(runtime, progress.advance)
        steps.append(rows)
    return results, steps


def _sweep_report(
    plan: Plan, steps: list[list[Any]], positive: Positive, out: Path
) -> dict[str, Any]:
    from haze.backtest.chart import sweep_chart
    from haze.backtest.metrics import confusion
    from haze.backtest.report import sweep_section

    assert plan.sweep_field is not None and plan.sweep_current is not None
    values = [value for value, _ in plan.sweep_steps]
    matrices = [confusion(rows, positive) for rows in steps]
    chart = sweep_chart(
        out / "sweep.png",
        plan.sweep_field,
        values,
        matrices,
        positive=positive,
        current=plan.sweep_current,
    )
    versions = [runtime.config_version for _, runtime in plan.sweep_steps]
    return sweep_section(
        plan.sweep_field, plan.sweep_current, values, matrices, versions, str(chart)
    )
