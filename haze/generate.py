"""``haze generate``: labelled synthetic listings (and a warm-up and feedback) as JSON Lines.

The files the backtest examples in the README and ``docs/backtesting.md`` run on, from the
project's generator (``loadtest/generator.py``) through ``loadtest/scenario.py``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from haze.errors import HazeError


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "generate",
        help="write labelled synthetic listings (and a warm-up and feedback) as JSON Lines",
        description=(
            "Labelled synthetic listings for backtests, deterministic for a seed; every line "
            "is a contract listing plus a 'label' field. The classes are documented in "
            "loadtest/generator.py and docs/backtesting.md."
        ),
    )
    parser.add_argument("out", type=Path, help="labelled listings file to write")
    parser.add_argument("--count", type=int, default=2000, help="labelled listings (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--mix",
        choices=("backtest", "default"),
        default="backtest",
        help="class mix: backtest (with the harder classes, default) or default (the demo's)",
    )
    parser.add_argument("--warmup-out", type=Path, help="also write warm-up listings here")
    parser.add_argument("--warmup-count", type=int, default=3000)
    parser.add_argument(
        "--feedback-out", type=Path, help="also write feedback banning stores of the warm-up"
    )
    parser.add_argument("--bans", type=int, default=20, help="stores banned by the feedback")
    parser.add_argument("--relists-per-ban", type=int, default=2)
    parser.add_argument(
        "--start", default="2026-11-01T00:00:00Z", help="created_at of the first listing"
    )
    parser.add_argument("--interval-s", type=float, default=30.0, help="seconds between listings")
    parser.add_argument("--registry", type=Path, help="brand registry (default: SCREEN_REGISTRY)")
    parser.set_defaults(func=run)


def _write(path: Path, docs: Sequence[dict[str, Any]]) -> None:
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for doc in docs:
            handle.write(orjson.dumps(doc) + b"\n")


def run(args: argparse.Namespace) -> int:
    from config.registry import load_registry
    from config.settings import settings_from_env
    from loadtest.generator import BACKTEST_MIX, DEFAULT_MIX
    from loadtest.scenario import build_scenario

    if args.feedback_out and not args.warmup_out:
        raise HazeError("--feedback-out needs --warmup-out: the banned stores come from it")
    if min(args.count, args.warmup_count, args.bans, args.relists_per_ban) < 0:
        raise HazeError("counts must not be negative")
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError as exc:
        raise HazeError(f"--start {args.start!r}: not an ISO 8601 date-time") from exc
    registry, _ = load_registry(args.registry or settings_from_env().registry_path)
    scenario = build_scenario(
        registry,
        count=args.count,
        seed=args.seed,
        warmup=args.warmup_count if args.warmup_out else 0,
        bans=args.bans if args.feedback_out else 0,
        relists_per_ban=args.relists_per_ban if args.feedback_out else 0,
        mix=BACKTEST_MIX if args.mix == "backtest" else DEFAULT_MIX,
        start=start,
        interval_s=args.interval_s,
    )
    _write(args.out, scenario.labelled)
    written = [f"{args.out} ({len(scenario.labelled)} labelled)"]
    if args.warmup_out:
        _write(args.warmup_out, scenario.warmup)
        written.append(f"{args.warmup_out} ({len(scenario.warmup)} warm-up)")
    if args.feedback_out:
        _write(args.feedback_out, scenario.feedback)
        written.append(f"{args.feedback_out} ({len(scenario.feedback)} feedback)")
    classes = Counter(doc["label"] for doc in scenario.labelled)
    print("wrote " + ", ".join(written))
    print("labelled classes: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    return 0
