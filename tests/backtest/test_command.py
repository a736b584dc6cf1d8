"""``haze backtest`` and ``haze generate`` end to end, through ``haze.cli.main``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from config.registry import DEFAULT_REGISTRY_PATH
from config.thresholds import DEFAULT_CONFIG_PATH
from haze.cli import main
from haze.runtime import Runtime
from tests.backtest.data import write_hand_files
from tests.conftest import write_config


def _report(out: Path) -> dict:  # type: ignore[type-arg]
    return orjson.loads((out / "report.json").read_bytes())


def test_baseline_and_candidate_report_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled, warmup, feedback = write_hand_files(tmp_path)
    # hand-07 scores ~0.80 (see tests/backtest/data.py): review at 0.85, block at 0.75
    candidate = write_config(tmp_path, decision__block_threshold=0.75, version="cand-1")
    out = tmp_path / "out"
    code = main(
        ["backtest", str(labelled), "--warmup", str(warmup), "--feedback", str(feedback),
         "--candidate", str(candidate), "--memory", "--out", str(out), "--batch-size", "4"]
    )  # fmt: skip
    assert code == 0
    report = _report(out)
    baseline, cand = report["runs"]
    # the same config_version a worker stamps on its verdicts for this file
    worker = Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH, warm=False)
    assert baseline["config_version"] == worker.config_version
    assert baseline["overall"]["matrix"]["suspicious"] == {"allow": 1, "review": 1, "block": 3}
    assert cand["config_version"].startswith("cand-1/")
    changed = report["comparison"]["changed"]
    assert [(c["listing_id"], c["baseline"], c["candidate"]) for c in changed] == [
        ("hand-07", "review", "block")
    ]
    assert report["comparison"]["delta"] == {
        "tp": 1, "fp": 0, "fn": -1, "allow": 0, "review": -1, "block": 1,
    }  # fmt: skip
    assert (
        report["positive"] == "block"
        and "suspicious class" in report["definitions"]["actual_positive"]
    )
    terminal = capsys.readouterr().out
    assert "Candidate vs baseline" in terminal and "hand-07" in terminal
    markdown = (out / "report.md").read_text()
    assert "## Candidate vs baseline" in markdown and "| hand-07 |" in markdown
    assert "## Definitions" in markdown


def test_set_compares_like_a_candidate_file(tmp_path: Path) -> None:
    labelled, warmup, feedback = write_hand_files(tmp_path)
    out = tmp_path / "out"
    args = ["backtest", str(labelled), "--warmup", str(warmup), "--feedback", str(feedback),
            "--set", "decision.block_threshold=0.75", "--memory", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    report = _report(out)
    assert report["runs"][1]["config"].endswith("--set decision.block_threshold=0.75")
    assert "+block_threshold=0.75/" in report["runs"][1]["config_version"]
    assert [c["listing_id"] for c in report["comparison"]["changed"]] == ["hand-07"]


def test_sweep_writes_a_chart_and_a_step_per_value(tmp_path: Path) -> None:
    labelled, _, _ = write_hand_files(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["backtest", str(labelled), "--memory", "--out", str(out),
         "--sweep", "decision.block_threshold=0.6:0.9:0.1"]
    )  # fmt: skip
    assert code == 0
    sweep = _report(out)["sweep"]
    assert [step["value"] for step in sweep["steps"]] == [0.6, 0.7, 0.8, 0.9]
    assert sweep["current"] == 0.85
    blocks = [step["overall"]["decisions"]["block"] for step in sweep["steps"]]
    assert blocks == sorted(blocks, reverse=True)
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![sweep chart](sweep.png)" in (out / "report.md").read_text()


def test_a_bad_line_stops_the_run_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled, _, _ = write_hand_files(tmp_path)
    lines = labelled.read_bytes().splitlines()
    lines[2] = lines[2].replace(b'"legit_brand"', b'"legit_brnad"')
    labelled.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["backtest", str(labelled), "--memory", "--out", str(tmp_path / "o")]) == 1
    assert f"{labelled}:3: label: unknown label 'legit_brnad'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(
        ["backtest", str(labelled), "--memory", "--out", str(tmp_path / "o"), "--skip-invalid"]
    ) == 0  # fmt: skip
    report = _report(tmp_path / "o")
    assert report["inputs"]["labelled_listings"] == 10
    (skipped,) = report["skipped_lines"]
    assert skipped.startswith(f"{labelled}:3: label: unknown label 'legit_brnad' (known: legit,")


def test_a_bad_candidate_stops_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled, _, _ = write_hand_files(tmp_path)
    candidate = write_config(tmp_path, decision__block_threshold="high")
    assert main(["backtest", str(labelled), "--candidate", str(candidate), "--memory"]) == 2
    assert "decision.block_threshold" in capsys.readouterr().err


@pytest.mark.integration
def test_through_redis_leaves_the_database_as_it_was(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    labelled, warmup, feedback = write_hand_files(tmp_path)
    client = redis.Redis.from_url(redis_url)
    before = set(client.keys("*"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    out = tmp_path / "out"
    args = ["backtest", str(labelled), "--warmup", str(warmup), "--feedback", str(feedback),
            "--out", str(out), "--sweep", "decision.block_threshold=0.7:0.9:0.1"]  # fmt: skip
    assert main(args) == 0
    report = _report(out)
    run = report["runs"][0]
    assert run["state"].startswith("redis ") and run["removed_keys"] > 0
    assert run["overall"]["matrix"]["legitimate"] == {"allow": 4, "review": 1, "block": 1}
    assert set(client.keys("*")) == before
    client.close()


def test_generate_writes_a_deterministic_scenario(tmp_path: Path) -> None:
    def generate(tag: str) -> tuple[bytes, bytes, bytes]:
        paths = [tmp_path / f"{tag}-{name}.jsonl" for name in ("l", "w", "f")]
        code = main(
            ["generate", str(paths[0]), "--count", "300", "--warmup-out", str(paths[1]),
             "--warmup-count", "200", "--feedback-out", str(paths[2]), "--bans", "4"]
        )  # fmt: skip
        assert code == 0
        return paths[0].read_bytes(), paths[1].read_bytes(), paths[2].read_bytes()

    first = generate("a")
    assert first == generate("b")
    labelled = [orjson.loads(line) for line in first[0].splitlines()]
    feedback = [orjson.loads(line) for line in first[2].splitlines()]
    assert len(feedback) == 4 and len(labelled) == 300 + 4 * 2
    assert sum(doc["label"] == "relist" for doc in labelled) == 8


def test_generate_refuses_feedback_without_a_warm_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(tmp_path / "l.jsonl"), "--feedback-out", str(tmp_path / "f.jsonl")]
    assert main(args) == 1
    assert "--feedback-out needs --warmup-out" in capsys.readouterr().err
