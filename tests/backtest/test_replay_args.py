"""``haze replay`` arguments: production topics refused, times, and replaying a file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from haze.backtest.errors import BacktestError
from haze.cli import main
from haze.replay import parse_time, refuse_production
from tests.backtest.data import LABELLED, write_hand_files


@pytest.mark.parametrize(
    "into", ["listings.verdicts", "complaints.proactive", "listings.submitted", "prod.verdicts",
             "prod.complaints", "prod.in"],
)  # fmt: skip
def test_production_topics_are_refused(into: str) -> None:
    with pytest.raises(BacktestError, match="refusing to write into a production topic"):
        refuse_production(into, ["prod.in", "prod.verdicts", "prod.complaints"], "prod.in")


def test_a_topic_of_its_own_is_fine() -> None:
    refuse_production("listings.verdicts.replay", ["listings.verdicts"], "listings.submitted")


def test_the_cli_refuses_before_touching_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("SCREEN_TOPIC_VERDICTS", "shop.verdicts")
    assert main(["replay", "--from", "now-1h", "--into", "shop.verdicts"]) == 1
    assert "refusing to write into a production topic" in capsys.readouterr().err


def test_times() -> None:
    assert parse_time("2026-11-20T08:00:00Z") == 1795161600.0
    assert parse_time("2026-11-20T08:00:00") == 1795161600.0  # naive means UTC
    assert parse_time("1795161600") == 1795161600.0
    assert parse_time("-2h", now=1000000.0) == 1000000.0 - 7200
    assert parse_time("now-30m", now=1000000.0) == 1000000.0 - 1800
    assert parse_time("now-1d", now=1000000.0) == 1000000.0 - 86400
    with pytest.raises(BacktestError, match="not a time"):
        parse_time("yesterday")


def test_a_file_replays_into_a_verdict_file_without_kafka_or_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled, _, _ = write_hand_files(tmp_path)
    lines = labelled.read_bytes().splitlines()
    lines.insert(3, b'{"listing_id": "x", "price": -1}')
    labelled.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "verdicts.jsonl"
    assert main(["replay", "--file", str(labelled), "--out-file", str(out), "--memory"]) == 0
    verdicts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [v["listing_id"] for v in verdicts] == [doc["listing_id"] for doc, _ in LABELLED]
    summary = capsys.readouterr().out
    assert "read 12 events (0 warm-up), 1 invalid, 11 verdicts written" in summary
    assert f"invalid: {labelled}:4: " in summary
