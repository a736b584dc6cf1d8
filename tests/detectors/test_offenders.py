"""Feedback to offender state: the mapping (table-driven) and its effect on real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from contract.feedback import Feedback
from detectors.offenders import OffenderAction, apply_feedback, offender_action
from tests.detectors.duplicate_harness import NOW, Harness, codes, make_listing, screen_config


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("store_banned", OffenderAction("ban", "s1")),
        ("store_cleared", OffenderAction("clear", "s1")),
        # one strike per listing: the listing id makes a repeated message a no-op
        ("confirmed_counterfeit", OffenderAction("strike", "s1", strike_id="L7")),
        # a listing found genuine changes no store status
        ("not_infringing", None),
    ],
)
def test_each_outcome_maps_to_one_state_call(outcome: str, expected: OffenderAction | None) -> None:
    assert offender_action(Feedback("L7", "s1", outcome)) == expected  # type: ignore[arg-type]


async def test_strikes_ban_at_the_configured_count(redis_client: aioredis.Redis) -> None:
    harness = Harness.fresh(redis_client, screen_config(strikes_to_ban=2))
    state = harness.state
    first = await apply_feedback(Feedback("L1", "s1", "confirmed_counterfeit"), state, NOW)
    again = await apply_feedback(Feedback("L1", "s1", "confirmed_counterfeit"), state, NOW)
    assert first is not None and again is not None
    assert (first.strikes, first.banned) == (again.strikes, again.banned) == (1, False)
    second = await apply_feedback(Feedback("L2", "s1", "confirmed_counterfeit"), state, NOW)
    assert second is not None and second.banned and second.strikes == 2
    assert await apply_feedback(Feedback("L3", "s1", "not_infringing"), state, NOW) is None
    cleared = await apply_feedback(Feedback("L3", "s1", "store_cleared"), state, NOW)
    assert cleared is not None and not cleared.banned and cleared.strikes == 0


async def test_a_ban_from_feedback_reaches_the_next_screen(redis_client: aioredis.Redis) -> None:
    harness = Harness.fresh(redis_client)
    phone = {"phone": "13900001111"}
    await harness.screen(
        [make_listing("a", "s1", "desk lamp", at=NOW - 60, signals=phone)], NOW - 60
    )
    await apply_feedback(Feedback("a", "s1", "store_banned"), harness.state, NOW - 30)
    [found] = await harness.screen([make_listing("b", "s2", "floor lamp", signals=phone)])
    assert codes(found) == {"LINKED_TO_BANNED_STORE"}
    await apply_feedback(Feedback("a", "s1", "store_cleared"), harness.state, NOW)
    [found] = await harness.screen([make_listing("c", "s3", "wall lamp", signals=phone)])
    assert found == []
