"""Reading labelled, warm-up and feedback files: every bad line is named with its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.signals import SignalKeyer
from haze.backtest.dataset import read_feedback, read_listings
from haze.backtest.errors import BacktestError, DatasetError

KEYER = SignalKeyer("k")
GOOD = (
    b'{"listing_id": "a", "seller_id": "s", "store_id": "st", "title": "mug", '
    b'"category": "home/kitchen", "price": 10, "label": "legit"}'
)


def _file(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_good_lines_with_their_line_numbers_blank_lines_skipped(tmp_path: Path) -> None:
    loaded = read_listings(_file(tmp_path, GOOD, b"", b"   ", GOOD), KEYER, labelled=True)
    assert [item.line for item in loaded.listings] == [1, 4]
    assert loaded.listings[0].label == "legit" and not loaded.listings[0].timed


def test_every_problem_names_line_and_field(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        GOOD,
        GOOD.replace(b'"legit"', b'"legitt"'),  # unknown label
        GOOD.replace(b', "label": "legit"', b""),  # no label
        GOOD.replace(b'"price": 10', b'"price": "10"'),  # wrong type
        b"{not json",
        b"[1, 2]",
    )
    with pytest.raises(DatasetError) as caught:
        read_listings(path, KEYER, labelled=True)
    problems = [(p.line, p.field) for p in caught.value.problems]
    assert problems == [(2, "label"), (3, "label"), (4, "price"), (5, None), (6, None)]
    message = str(caught.value)
    assert f"{path}:2: label: unknown label 'legitt'" in message
    assert f"{path}:4: price: must be a number" in message
    assert "5 invalid lines" in message and "--skip-invalid" in message


def test_skip_invalid_keeps_the_good_lines_and_returns_the_problems(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD, GOOD.replace(b'"legit"', b"3"))
    loaded = read_listings(path, KEYER, labelled=True, skip_invalid=True)
    assert [item.line for item in loaded.listings] == [1]
    assert [(p.line, p.field) for p in loaded.problems] == [(2, "label")]


def test_warm_up_files_need_no_label(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD.replace(b', "label": "legit"', b""))
    assert read_listings(path, KEYER, labelled=False).listings[0].label is None


def test_feedback_lines(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        b'{"listing_id": "a", "store_id": "s", "outcome": "store_banned",'
        b' "created_at": "2026-10-01T10:00:00Z"}',
        b'{"listing_id": "a", "store_id": "s", "outcome": "banned"}',
        b'{"listing_id": "a", "store_id": "s", "outcome": "store_banned", "created_at": "soon"}',
    )
    with pytest.raises(DatasetError) as caught:
        read_feedback(path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "outcome"), (3, "created_at")]
    good = read_feedback(path, skip_invalid=True).feedback
    assert good[0].event_time == 1790848800.0


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match="cannot read file"):
        read_listings(tmp_path / "nope.jsonl", KEYER, labelled=True)
