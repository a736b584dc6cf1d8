"""Metric functions over hand-made rows (pure logic, no engine)."""

from __future__ import annotations

import pytest

from haze.backtest.metrics import by_class, by_code, compare, confusion
from haze.backtest.runner import Row


def row(line: int, label: str, decision: str, *codes: str, score: float = 0.0) -> Row:
    return Row(line, f"l-{line}", 0, label, decision, score, tuple(sorted(codes)))  # type: ignore[arg-type]


ROWS = [
    row(1, "counterfeit", "block", "BRAND_WITH_COUNTERFEIT_TERM", "BRAND_UNAUTHORIZED_STORE"),
    row(2, "price_fake", "review", "PRICE_BELOW_REFERENCE", "BRAND_UNAUTHORIZED_STORE"),
    row(3, "legit_resale", "allow", "BRAND_UNAUTHORIZED_STORE"),
    row(4, "legit_clearance", "block", "PRICE_BELOW_REFERENCE", "BRAND_UNAUTHORIZED_STORE"),
    row(5, "legit", "allow"),
]


def test_empty_denominators_are_none_not_zero() -> None:
    empty = confusion([], "block")
    assert (empty.precision, empty.recall, empty.false_positive_rate) == (None, None, None)
    assert empty.review_share is None and empty.automation_rate is None
    only_legit = confusion([row(1, "legit", "allow")], "block")
    assert only_legit.precision is None and only_legit.recall is None
    assert only_legit.false_positive_rate == 0.0


def test_positive_definition_moves_review() -> None:
    block = confusion(ROWS, "block")
    assert (block.tp, block.fp, block.fn, block.tn) == (1, 1, 1, 2)
    flagged = confusion(ROWS, "flagged")
    assert (flagged.tp, flagged.fp, flagged.fn, flagged.tn) == (2, 1, 0, 2)
    assert block.review_share == flagged.review_share == pytest.approx(1 / 5)


def test_by_code_counts_only_the_listings_carrying_it() -> None:
    codes = by_code(ROWS, "block")
    assert next(iter(codes)) == "BRAND_UNAUTHORIZED_STORE"  # most frequent first
    unauthorized = codes["BRAND_UNAUTHORIZED_STORE"]
    assert (unauthorized.n, unauthorized.suspicious, unauthorized.legitimate) == (4, 2, 2)
    assert (unauthorized.tp, unauthorized.fp) == (1, 1)
    assert unauthorized.recall == pytest.approx(1 / 2)  # of both suspicious rows
    assert unauthorized.false_positive_rate == pytest.approx(1 / 3)  # of three legitimate rows
    price = codes["PRICE_BELOW_REFERENCE"]
    assert price.precision == 0.0 and price.review_share == pytest.approx(1 / 2)


def test_by_class_in_documented_order_with_side_specific_rates() -> None:
    classes = by_class(ROWS, "block")
    assert list(classes) == [
        "legit",
        "legit_resale",
        "counterfeit",
        "price_fake",
        "legit_clearance",
    ]
    assert (
        classes["counterfeit"].recall == 1.0 and classes["counterfeit"].false_positive_rate is None
    )
    assert classes["legit_clearance"].false_positive_rate == 1.0
    assert classes["legit_clearance"].recall is None


def test_compare_lists_changes_and_deltas() -> None:
    candidate = [
        ROWS[0],
        row(2, "price_fake", "block", "PRICE_BELOW_REFERENCE", score=0.9),
        ROWS[2],
        row(4, "legit_clearance", "review", "PRICE_BELOW_REFERENCE"),
        ROWS[4],
    ]
    result = compare(ROWS, candidate, "block")
    assert [change.line for change in result.changed] == [2, 4]
    assert result.transitions == {"block->review": 1, "review->block": 1}
    assert result.delta == {"tp": 1, "fp": -1, "fn": -1, "allow": 0, "review": 0, "block": 0}
    assert result.changed[0].candidate_score == 0.9


def test_compare_refuses_rows_of_other_lines() -> None:
    with pytest.raises(ValueError, match="same lines"):
        compare(ROWS, ROWS[:-1], "block")
