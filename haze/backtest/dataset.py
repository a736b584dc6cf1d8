"""Reading labelled listings, warm-up listings and feedback from JSON Lines files.

One JSON document per line, in the contract's formats (``listing.schema.json`` plus a
``label`` field; ``feedback.schema.json``). Blank lines are skipped. Every bad line is
collected as a :class:`LineProblem` naming file, line and field; by default any problem is a
:class:`DatasetError` (nothing runs on a half-read file), with ``skip_invalid`` the bad lines
are left out and returned so the report can list them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from contract.errors import ContractError
from contract.feedback import Feedback, feedback_from_dict
from contract.listing import Listing, listing_from_dict
from contract.signals import SignalKeyer
from haze.backtest.errors import BacktestError, DatasetError, LineProblem
from haze.backtest.labels import LABEL_FIELD, LABELS


@dataclass(frozen=True, slots=True)
class InputListing:
    """A listing read from line ``line``; ``label`` is ``None`` in unlabelled (warm-up) files.
    ``timed`` is False when it has no ``created_at`` (its event time is assigned in order)."""

    line: int
    listing: Listing
    label: str | None
    timed: bool


@dataclass(frozen=True, slots=True)
class InputFeedback:
    line: int
    feedback: Feedback
    event_time: float | None
    """``created_at`` in epoch seconds, when given."""


@dataclass(slots=True)
class Loaded:
    """What a file yielded: the good records and the problems of the lines left out."""

    path: str
    listings: list[InputListing] = field(default_factory=list)
    feedback: list[InputFeedback] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


def _documents(path: Path, loaded: Loaded) -> Iterator[tuple[int, object]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                loaded.problems.append(
                    LineProblem(str(path), number, None, f"not valid JSON: {exc}")
                )


def _finish(loaded: Loaded, skip_invalid: bool) -> Loaded:
    if loaded.problems and not skip_invalid:
        raise DatasetError(loaded.problems)
    return loaded


def read_listings(
    path: str | Path, keyer: SignalKeyer, *, labelled: bool, skip_invalid: bool = False
) -> Loaded:
    """Listings of a file. With ``labelled``, every line needs a known ``label``."""
    source = Path(path)
    loaded = Loaded(str(source))
    for number, doc in _documents(source, loaded):
        try:
            label = _label(doc) if labelled else None
            listing = listing_from_dict(doc, keyer, arrival=0.0)
        except ContractError as exc:
            loaded.problems.append(LineProblem(str(source), number, exc.field, exc.reason))
            continue
        timed = isinstance(doc, dict) and doc.get("created_at") is not None
        loaded.listings.append(InputListing(number, listing, label, timed))
    return _finish(loaded, skip_invalid)


def _label(doc: object) -> str:
    if not isinstance(doc, dict):
        raise ContractError(None, "a listing must be a JSON object")
    label = doc.get(LABEL_FIELD)
    if label is None:
        raise ContractError(LABEL_FIELD, "is required in a labelled file")
    if not isinstance(label, str) or label not in LABELS:
        raise ContractError(LABEL_FIELD, f"unknown label {label!r} (known: {', '.join(LABELS)})")
    return label


def read_feedback(path: str | Path, *, skip_invalid: bool = False) -> Loaded:
    """Feedback records of a file (``feedback.schema.json``), in file order."""
    source = Path(path)
    loaded = Loaded(str(source))
    for number, doc in _documents(source, loaded):
        try:
            feedback = feedback_from_dict(doc)
            when = _timestamp(feedback.created_at)
        except ContractError as exc:
            loaded.problems.append(LineProblem(str(source), number, exc.field, exc.reason))
            continue
        loaded.feedback.append(InputFeedback(number, feedback, when))
    return _finish(loaded, skip_invalid)


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ContractError("created_at", "must be an RFC 3339 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise ContractError("created_at", "must be an RFC 3339 date-time")
    return seconds
