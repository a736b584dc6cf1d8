"""Sweep specs, their validation through the config model, and monotone sweeps."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.loader import read_yaml
from config.registry import load_registry
from config.thresholds import DEFAULT_CONFIG_PATH, load_screen_config
from contract.signals import SignalKeyer
from haze.backtest.dataset import read_feedback, read_listings
from haze.backtest.errors import BacktestError
from haze.backtest.isolation import isolated_state
from haze.backtest.metrics import confusion
from haze.backtest.runner import Inputs, run_once
from haze.backtest.sweep import SweepSpec, parse_sweep, sweep_configs, sweep_values
from haze.backtest.variants import apply_sets
from haze.runtime import Runtime
from loadtest.scenario import build_scenario
from tests.backtest.data import write_jsonl

CONFIG, _ = load_screen_config()
DOC, _ = read_yaml(DEFAULT_CONFIG_PATH)
REGISTRY, _ = load_registry()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("decision.block_threshold", "FIELD=START:STOP:STEP"),
        ("decision.block_threshold=0.5:0.9", "FIELD=START:STOP:STEP"),
        ("=0.5:0.9:0.1", "FIELD=START:STOP:STEP"),
        ("decision.block_threshold=a:0.9:0.1", "must be numbers"),
        ("decision.block_threshold=0.5:0.9:0", "STEP must be greater than 0"),
        ("decision.block_threshold=0.9:0.5:0.1", "STOP must not be below START"),
        ("decision.block_threshold=0:1000:0.001", "more than 200 steps"),
        ("decision.block_threshold=nan:1:0.1", "finite"),
    ],
)
def test_bad_specs_are_refused(text: str, problem: str) -> None:
    with pytest.raises(BacktestError, match=problem):
        parse_sweep(text)


def test_values_include_stop_without_float_drift() -> None:
    assert sweep_values(parse_sweep("x=0.1:0.3:0.1")) == [0.1, 0.2, 0.3]
    assert sweep_values(SweepSpec("x", 0.5, 0.95, 0.05))[-1] == 0.95
    assert len(sweep_values(SweepSpec("x", 0.5, 0.95, 0.05))) == 10
    assert sweep_values(SweepSpec("x", 1, 2, 0.3)) == [1.0, 1.3, 1.6, 1.9]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("decision.blok=0.5:0.9:0.1", "no field 'blok' in decision"),
        ("nothing.here=0.5:0.9:0.1", "no field 'nothing' in the top level"),
        ("decision=0.5:0.9:0.1", "is a section, not a number"),
        ("decision.combine=0.5:0.9:0.1", "is a str, not a number"),
        ("detectors.keyword.enabled=0:1:1", "is a bool, not a number"),
        ("detectors.keyword.stuffing_min_brands=2:4:0.5", "is an integer; use whole steps"),
        ("detectors.price.rates.XYZ=1:2:1", "no field 'XYZ' in detectors.price.rates"),
    ],
)
def test_fields_must_name_a_number_of_the_config(text: str, problem: str) -> None:
    with pytest.raises(BacktestError, match=problem):
        sweep_configs(DOC, CONFIG, parse_sweep(text), "file")


def test_values_the_config_refuses_are_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError) as caught:  # review above block (0.85) at 0.9
        sweep_configs(DOC, CONFIG, parse_sweep("decision.review_threshold=0.7:0.9:0.1"), "file")
    assert caught.value.field == "decision" and "review_threshold=0.9" in caught.value.source
    with pytest.raises(ConfigError) as caught:
        sweep_configs(DOC, CONFIG, parse_sweep("decision.block_threshold=0.9:1.1:0.1"), "file")
    assert caught.value.field == "decision.block_threshold"


def test_each_config_carries_its_value_and_a_version_naming_it() -> None:
    configs = sweep_configs(
        DOC, CONFIG, parse_sweep("detectors.keyword.stuffing_min_brands=2:4:1"), "file"
    )
    assert [value for value, _ in configs] == [2, 3, 4]
    assert [c.detectors.keyword.stuffing_min_brands for _, c in configs] == [2, 3, 4]
    assert configs[0][1].version.endswith("+stuffing_min_brands=2")
    # everything else is the file's
    assert configs[0][1].decision == CONFIG.decision


async def test_raising_the_block_threshold_never_blocks_more(tmp_path: Path) -> None:
    """The block threshold decides only between review and block: which listings are allowed
    (and so the price state fed by them) cannot change, hence every score stays the same and
    blocks can only fall as the threshold rises."""
    scenario = build_scenario(REGISTRY, count=400, warmup=300, bans=5, seed=3)
    keyer = SignalKeyer("k")
    labelled = write_jsonl(tmp_path / "l.jsonl", scenario.labelled)
    warmup = write_jsonl(tmp_path / "w.jsonl", scenario.warmup)
    inputs = Inputs(
        read_listings(labelled, keyer, labelled=True).listings,
        read_listings(warmup, keyer, labelled=False).listings,
        read_feedback(write_jsonl(tmp_path / "f.jsonl", scenario.feedback)).feedback,
    )
    configs = sweep_configs(
        DOC, CONFIG, parse_sweep("decision.block_threshold=0.6:0.95:0.05"), "file"
    )
    steps = []
    for _, config in configs:
        runtime = Runtime.build(config, REGISTRY)
        async with isolated_state(config, None) as isolated:
            steps.append(await run_once(runtime, inputs, isolated.state, start=1.8e9))
    blocks = [confusion(rows, "block").decisions["block"] for rows in steps]
    allows = [confusion(rows, "block").decisions["allow"] for rows in steps]
    recalls = [confusion(rows, "block").recall or 0.0 for rows in steps]
    assert all(a >= b for a, b in itertools.pairwise(blocks)), blocks
    assert blocks[0] > blocks[-1], "the range must actually move listings"
    assert all(a >= b for a, b in itertools.pairwise(recalls)), recalls
    assert len(set(allows)) == 1, allows
    scores = [[row.score for row in rows] for rows in steps]
    assert all(s == scores[0] for s in scores)


def test_set_makes_a_candidate_validated_like_an_edit() -> None:
    document, config = apply_sets(  # the changed document and its config
        DOC, CONFIG, ["decision.block_threshold=0.8", "decision.degraded_policy=fail_closed"], "f"
    )
    assert config.decision.block_threshold == 0.8
    assert config.decision.degraded_policy == "fail_closed"
    assert config.version == f"{CONFIG.version}+block_threshold=0.8,degraded_policy=fail_closed"
    assert config.detectors == CONFIG.detectors
    assert document["decision"]["block_threshold"] == 0.8
    assert DOC["decision"]["block_threshold"] == 0.85, "the file's document is not changed"
    _, named = apply_sets(DOC, CONFIG, ["version=cand", "decision.combine=max"], "f")
    assert named.version == "cand"
    lists = apply_sets(DOC, CONFIG, ["decision.hard_review_codes=[BRAND_MISMATCH]"], "f")[1]
    assert lists.decision.hard_review_codes == ["BRAND_MISMATCH"]


@pytest.mark.parametrize(
    ("change", "error", "problem"),
    [
        ("decision.block_threshold", BacktestError, "expected FIELD=VALUE"),
        ("decision.blok=1", BacktestError, "no field 'blok' in decision"),
        ("decision.block_threshold=[1", BacktestError, "not valid YAML"),
        ("decision.block_threshold=high", ConfigError, "decision.block_threshold"),
    ],
)
def test_bad_sets_are_refused(change: str, error: type[Exception], problem: str) -> None:
    with pytest.raises(error, match=re.escape(problem)):
        apply_sets(DOC, CONFIG, [change], "f")
