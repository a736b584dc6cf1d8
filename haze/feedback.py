"""Feedback closes the loop: outcomes from rights holders and reviewers change offender state.

``store_banned`` bans, ``store_cleared`` clears (and forgets strikes), ``confirmed_counterfeit``
adds one strike per listing (the strikes that ban are a policy in config), ``not_infringing``
changes nothing in the offender state.
"""

from __future__ import annotations

from contract.feedback import Feedback
from state.base import StateStore, StoreStatus


async def apply_feedback(state: StateStore, feedback: Feedback, now: float) -> StoreStatus | None:
    """Apply one feedback record; returns the store's status afterwards (None if unchanged)."""
    if feedback.outcome == "store_banned":
        return await state.ban_store(feedback.store_id, now)
    if feedback.outcome == "store_cleared":
        return await state.clear_store(feedback.store_id)
    if feedback.outcome == "confirmed_counterfeit":
        return await state.add_strike(feedback.store_id, feedback.listing_id, now)
    return None
