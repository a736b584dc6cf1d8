"""Label classes and what counts as a positive.

A labelled listing carries its class in the ``label`` field (the contract tolerates extra
fields; the screener ignores it). The classes are the synthetic generator's
(``loadtest/generator.py``, documented class by class in ``docs/backtesting.md``); a label
outside them is an error naming the line, so a typo never silently counts as legitimate.

*Actual positive*: the label is a suspicious class (``SUSPICIOUS``). *Predicted positive*:
by default the decision is ``block`` (``review`` is reported separately as the share sent to
people); with ``flagged``, ``review`` or ``block``.
"""

from __future__ import annotations

from typing import Literal

from contract.verdict import Decision
from loadtest.generator import ALL_CLASSES, SUSPICIOUS

LABEL_FIELD = "label"
LABELS: tuple[str, ...] = ALL_CLASSES
SUSPICIOUS_LABELS: frozenset[str] = SUSPICIOUS
LEGITIMATE_LABELS: frozenset[str] = frozenset(LABELS) - SUSPICIOUS

Positive = Literal["block", "flagged"]
POSITIVES: tuple[Positive, ...] = ("block", "flagged")


def is_suspicious(label: str) -> bool:
    return label in SUSPICIOUS_LABELS


def predicted_positive(decision: Decision, positive: Positive) -> bool:
    """Whether a decision counts as a positive prediction under the chosen definition."""
    return decision == "block" or (positive == "flagged" and decision == "review")


def describe(positive: Positive) -> dict[str, str]:
    """The definitions a report states in its header."""
    predicted = (
        "decision is block (review is reported separately)"
        if positive == "block"
        else "decision is review or block"
    )
    return {
        "actual_positive": "label is a suspicious class: " + ", ".join(sorted(SUSPICIOUS_LABELS)),
        "actual_negative": "label is a legitimate class: " + ", ".join(sorted(LEGITIMATE_LABELS)),
        "predicted_positive": predicted,
        "precision": "TP / (TP + FP): of the listings predicted positive, the share suspicious",
        "recall": "TP / (TP + FN): of the suspicious listings, the share predicted positive",
        "false_positive_rate": "FP / (FP + TN): of the legitimate listings, the share predicted "
        "positive",
        "review_share": "listings decided review / all listings; automation rate = 1 - it",
        "per_code": "a code counts for a listing when its verdict carries a reason with that "
        "code; precision, recall and FPR then count only those listings among TP and FP "
        "(recall and FPR keep the whole class as denominator)",
    }
