"""The load test's repeat-offender episodes get the reasons they are meant to exercise, through
the real engine and detectors over the in-memory state."""

from __future__ import annotations

import time

import orjson

from config.registry import DEFAULT_REGISTRY_PATH, load_registry
from config.thresholds import DEFAULT_CONFIG_PATH
from contract.feedback import feedback_from_dict
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from detectors.offenders import apply_feedback
from haze.engine import Screener
from haze.runtime import Runtime
from loadtest.offenders import OFFENDER_CLASSES, OffenderEpisodes
from state.memory import MemoryStateStore
from state.policies import series_policies

EXPECTED = {
    "offender_seed": set(),
    "store_banned_again": {"STORE_BANNED"},
    "linked_to_banned": {"LINKED_TO_BANNED_STORE"},
    "duplicate_of_banned": {"DUPLICATE_OF_BANNED_LISTING", "IMAGE_OF_BANNED_LISTING"},
}


async def test_each_step_of_an_episode_raises_its_reason() -> None:
    runtime = Runtime.load(DEFAULT_CONFIG_PATH, DEFAULT_REGISTRY_PATH)
    state = MemoryStateStore(series_policies(runtime.config))
    screener = Screener(runtime, state)
    keyer = SignalKeyer("k")
    registry, _ = load_registry()
    episodes = OffenderEpisodes(registry, seed=3)
    seen: dict[str, list[set[str]]] = {label: [] for label in OFFENDER_CLASSES}
    decisions: dict[str, list[str]] = {label: [] for label in OFFENDER_CLASSES}
    for _ in range(5):
        for kind, doc in episodes.episode():
            if kind == "feedback":
                await apply_feedback(feedback_from_dict(doc), state, time.time())
                continue
            [result] = await screener.screen([listing_from_dict(doc, keyer)])
            verdict = orjson.loads(result.verdict)
            seen[doc["label"]].append({r["code"] for r in verdict["reasons"]})
            decisions[doc["label"]].append(verdict["decision"])
    for label, wanted in EXPECTED.items():
        for codes in seen[label]:
            if wanted:
                assert codes & wanted, (label, codes)
            else:
                assert not codes & {c for w in EXPECTED.values() for c in w}, (label, codes)
    assert set(decisions["linked_to_banned"]) <= {"review", "block"}
    assert set(decisions["store_banned_again"]) == {"block"}
