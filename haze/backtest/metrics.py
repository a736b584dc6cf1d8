"""Backtest metrics as pure functions of the rows (definitions in ``haze.backtest.labels``).

``confusion`` gives the overall matrix (actual side x decision) and the rates, ``by_class``
and ``by_code`` the same per label class and per reason code, ``compare`` what changed between
a baseline and a candidate run over the same lines. A rate with an empty denominator is
``None`` (shown as "-"), never a made-up 0 or 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from contract.verdict import DECISIONS
from haze.backtest.labels import LABELS, Positive, is_suspicious, predicted_positive
from haze.backtest.runner import Row

SIDES = ("suspicious", "legitimate")


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _side(label: str) -> str:
    return "suspicious" if is_suspicious(label) else "legitimate"


def _decisions(rows: Iterable[Row]) -> dict[str, int]:
    counts = Counter(row.decision for row in rows)
    return {decision: counts[decision] for decision in DECISIONS}


@dataclass(frozen=True, slots=True)
class Confusion:
    n: int
    matrix: dict[str, dict[str, int]]
    """``matrix[side][decision]``: listings of each actual side by decision."""
    tp: int
    fp: int
    fn: int
    tn: int
    decisions: dict[str, int]
    precision: float | None
    recall: float | None
    false_positive_rate: float | None
    review_share: float | None
    automation_rate: float | None


def confusion(rows: Sequence[Row], positive: Positive) -> Confusion:
    matrix: dict[str, dict[str, int]] = {side: dict.fromkeys(DECISIONS, 0) for side in SIDES}
    tp = fp = fn = tn = 0
    for row in rows:
        suspicious = is_suspicious(row.label)
        matrix["suspicious" if suspicious else "legitimate"][row.decision] += 1
        flagged = predicted_positive(row.decision, positive)
        if suspicious:
            tp, fn = tp + flagged, fn + (not flagged)
        else:
            fp, tn = fp + flagged, tn + (not flagged)
    decisions = _decisions(rows)
    review = ratio(decisions["review"], len(rows))
    return Confusion(
        n=len(rows),
        matrix=matrix,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        decisions=decisions,
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        false_positive_rate=ratio(fp, fp + tn),
        review_share=review,
        automation_rate=None if review is None else 1.0 - review,
    )


@dataclass(frozen=True, slots=True)
class ClassRates:
    """One label class: a suspicious class has a recall, a legitimate one a FPR."""

    label: str
    side: str
    n: int
    decisions: dict[str, int]
    predicted_positive: int
    recall: float | None
    false_positive_rate: float | None
    review_share: float | None


def by_class(rows: Sequence[Row], positive: Positive) -> dict[str, ClassRates]:
    """Per label class present in ``rows``, in the documented class order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.label, []).append(row)
    out = {}
    for label in sorted(groups, key=lambda name: (LABELS.index(name), name)):
        members = groups[label]
        hit = sum(predicted_positive(row.decision, positive) for row in members)
        decisions = _decisions(members)
        suspicious = is_suspicious(label)
        share = ratio(hit, len(members))
        out[label] = ClassRates(
            label=label,
            side=_side(label),
            n=len(members),
            decisions=decisions,
            predicted_positive=hit,
            recall=share if suspicious else None,
            false_positive_rate=None if suspicious else share,
            review_share=ratio(decisions["review"], len(members)),
        )
    return out


@dataclass(frozen=True, slots=True)
class CodeRates:
    """One reason code over the listings whose verdict carries it."""

    code: str
    n: int
    suspicious: int
    legitimate: int
    decisions: dict[str, int]
    tp: int
    fp: int
    precision: float | None
    recall: float | None
    false_positive_rate: float | None
    review_share: float | None


def by_code(rows: Sequence[Row], positive: Positive) -> dict[str, CodeRates]:
    """Per reason code, most frequent first. Recall and FPR divide by all suspicious and all
    legitimate rows, so a code's recall is its share of every catch."""
    all_suspicious = sum(is_suspicious(row.label) for row in rows)
    all_legitimate = len(rows) - all_suspicious
    groups: dict[str, list[Row]] = {}
    for row in rows:
        for code in row.codes:
            groups.setdefault(code, []).append(row)
    out = {}
    for code in sorted(groups, key=lambda c: (-len(groups[c]), c)):
        members = groups[code]
        suspicious = sum(is_suspicious(row.label) for row in members)
        tp = sum(
            is_suspicious(row.label) and predicted_positive(row.decision, positive)
            for row in members
        )
        fp = sum(
            not is_suspicious(row.label) and predicted_positive(row.decision, positive)
            for row in members
        )
        decisions = _decisions(members)
        out[code] = CodeRates(
            code=code,
            n=len(members),
            suspicious=suspicious,
            legitimate=len(members) - suspicious,
            decisions=decisions,
            tp=tp,
            fp=fp,
            precision=ratio(tp, tp + fp),
            recall=ratio(tp, all_suspicious),
            false_positive_rate=ratio(fp, all_legitimate),
            review_share=ratio(decisions["review"], len(members)),
        )
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """A line whose decision differs between the baseline and the candidate."""

    line: int
    listing_id: str
    revision: int
    label: str
    baseline: str
    candidate: str
    baseline_score: float
    candidate_score: float
    baseline_codes: tuple[str, ...]
    candidate_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    changed: list[Change]
    transitions: dict[str, int]
    """``"allow->block"``: how many lines moved that way."""
    delta: dict[str, int] = field(default_factory=dict)
    """Candidate minus baseline: ``tp`` (more suspicious caught), ``fp`` (more legitimate
    predicted positive), ``fn``, ``review``, ``block``, ``allow``."""


def compare(baseline: Sequence[Row], candidate: Sequence[Row], positive: Positive) -> Comparison:
    if [row.line for row in baseline] != [row.line for row in candidate]:
        raise ValueError("baseline and candidate rows must cover the same lines")
    changed = [
        Change(
            b.line,
            b.listing_id,
            b.revision,
            b.label,
            b.decision,
            c.decision,
            b.score,
            c.score,
            b.codes,
            c.codes,
        )
        for b, c in zip(baseline, candidate, strict=True)
        if b.decision != c.decision
    ]
    moves = Counter(f"{change.baseline}->{change.candidate}" for change in changed)
    before, after = confusion(baseline, positive), confusion(candidate, positive)
    delta: dict[str, int] = {
        "tp": after.tp - before.tp,
        "fp": after.fp - before.fp,
        "fn": after.fn - before.fn,
    }
    for decision in DECISIONS:
        delta[decision] = after.decisions[decision] - before.decisions[decision]
    return Comparison(changed, dict(sorted(moves.items())), delta)
