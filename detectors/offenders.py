"""Feedback to offender state: what a reviewer's or rights holder's outcome does to a store.

The transport (``screening.feedback`` on Kafka, ``POST /v1/feedback``) is wired elsewhere; this
module is the one place that decides what each outcome means:

- ``store_banned``: the store is banned (its own listings, the stores sharing its identity
  signals and the copies of its listings are then caught);
- ``store_cleared``: the ban and the strikes are lifted;
- ``confirmed_counterfeit``: one strike, counted once per listing (a repeated feedback message
  is not a second strike); ``strikes_to_ban`` strikes within the history window ban the store;
- ``not_infringing``: nothing changes (a cleared listing does not erase other strikes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contract.feedback import Feedback
from state.base import StateStore, StoreStatus

Operation = Literal["ban", "clear", "strike"]


@dataclass(frozen=True, slots=True)
class OffenderAction:
    """One change to a store's offender status."""

    operation: Operation
    store_id: str
    strike_id: str | None = None
    """For strikes: the id that makes a repeated strike a no-op (the listing id)."""


def offender_action(feedback: Feedback) -> OffenderAction | None:
    """What a feedback record does to the offender state; ``None`` when nothing."""
    if feedback.outcome == "store_banned":
        return OffenderAction("ban", feedback.store_id)
    if feedback.outcome == "store_cleared":
        return OffenderAction("clear", feedback.store_id)
    if feedback.outcome == "confirmed_counterfeit":
        return OffenderAction("strike", feedback.store_id, strike_id=feedback.listing_id)
    return None


async def apply_offender_action(
    action: OffenderAction, state: StateStore, now: float
) -> StoreStatus:
    """Carry out one action (one state call); returns the store's status afterwards."""
    if action.operation == "ban":
        return await state.ban_store(action.store_id, now)
    if action.operation == "clear":
        return await state.clear_store(action.store_id)
    assert action.strike_id is not None, "a strike carries its strike id"
    return await state.add_strike(action.store_id, action.strike_id, now)


async def apply_feedback(feedback: Feedback, state: StateStore, now: float) -> StoreStatus | None:
    """Map and apply one feedback record; ``None`` when it changes nothing."""
    action = offender_action(feedback)
    return None if action is None else await apply_offender_action(action, state, now)
