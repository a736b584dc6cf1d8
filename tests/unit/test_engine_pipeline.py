"""The engine and the batch pipeline over the in-memory state, with a recording publisher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.registry import load_registry
from config.settings import Topics
from config.thresholds import load_screen_config
from contract.listing import listing_from_dict
from contract.signals import SignalKeyer
from contract.verdict import Reason
from detectors.base import Detector
from detectors.batch import ListingBatch
from haze.engine import Screener
from haze.runtime import Runtime
from state.base import Series, StateSnapshot, StateUpdates
from state.errors import StateUnavailable
from state.memory import MemoryStateStore
from state.policies import series_policies
from streams.metrics import ScreenMetrics
from streams.pipeline import Incoming, ScreenPipeline
from streams.publisher import Record

CONFIG, _ = load_screen_config()
REGISTRY, _ = load_registry()
KEYER = SignalKeyer("k")
TOPICS = Topics()


class WordDetector(Detector):
    """A test detector: flags titles containing a word, with a fixed score."""

    name = "word"

    def __init__(self, word: str, score: float, code: str = "WORD") -> None:
        self.word, self.score, self.code = word, score, code

    @classmethod
    def build(cls, config: Any, registry: Any) -> Detector:
        return cls("fake", 0.9)

    def detect(self, batch: ListingBatch, state: StateSnapshot) -> list[list[Reason]]:
        if any(listing.title == "boom" for listing in batch.listings):
            raise ValueError("poison listing")
        return [
            [Reason(self.name, self.code, self.score, {"brand": "aurora"})]
            if self.word in listing.title
            else []
            for listing in batch.listings
        ]


def _runtime(*detectors: Detector) -> Runtime:
    base = Runtime.build(CONFIG, REGISTRY, warm=False)
    return Runtime(base.config, base.registry, base.config_version, tuple(detectors), base.decision)


def _listing(listing_id: str, title: str = "plain mug", revision: int = 0) -> Any:
    doc = {
        "listing_id": listing_id,
        "seller_id": "s",
        "store_id": "st",
        "title": title,
        "category": "home/kitchen",
        "price": 30,
        "revision": revision,
    }
    return listing_from_dict(doc, KEYER, arrival=1.0)


class RecordingPublisher:
    def __init__(self, fail_times: int = 0) -> None:
        self.records: list[Record] = []
        self.fail_times = fail_times

    async def publish(self, records: Sequence[Record]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker down")
        self.records.extend(records)

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.records if r.topic == topic]


class FlakyState(MemoryStateStore):
    def __init__(self, failures: int) -> None:
        super().__init__(series_policies(CONFIG))
        self.failures = failures

    async def fetch(self, *args: Any, **kwargs: Any) -> StateSnapshot:
        if self.failures:
            self.failures -= 1
            raise StateUnavailable("redis: timeout")
        return await super().fetch(*args, **kwargs)


async def test_redelivery_repeats_the_verdict_and_owes_no_second_complaint() -> None:
    state = MemoryStateStore(series_policies(CONFIG))
    screener = Screener(_runtime(WordDetector("fake", 0.9)), state)
    first = await screener.screen([_listing("a", "fake bag"), _listing("b")])
    assert [r.decision for r in first] == ["block", "allow"]
    assert first[0].complaint is not None and first[1].complaint is None
    # not yet marked emitted: a redelivery still owes the complaint, with the same id
    again = await screener.screen([_listing("a", "fake bag")])
    assert again[0].verdict == first[0].verdict and not again[0].fresh
    assert (
        orjson.loads(again[0].complaint)["complaint_id"]
        == orjson.loads(first[0].complaint)["complaint_id"]
    )
    await screener.mark_emitted(first)
    after = await screener.screen([_listing("a", "fake bag")])
    assert after[0].verdict == first[0].verdict and after[0].complaint is None


async def test_same_revision_with_other_content_is_screened_again() -> None:
    screener = Screener(
        _runtime(WordDetector("fake", 0.9)), MemoryStateStore(series_policies(CONFIG))
    )
    await screener.screen([_listing("a", "plain bag")])
    changed = await screener.screen([_listing("a", "fake bag")])
    assert changed[0].fresh and changed[0].decision == "block"


async def test_in_batch_duplicates_get_one_verdict_and_one_complaint() -> None:
    screener = Screener(
        _runtime(WordDetector("fake", 0.9)), MemoryStateStore(series_policies(CONFIG))
    )
    results = await screener.screen([_listing("a", "fake"), _listing("a", "fake")])
    assert results[0].verdict == results[1].verdict
    assert [r.complaint is not None for r in results] == [True, False]


@pytest.mark.parametrize(
    ("policy", "decision"), [("fail_open", "allow"), ("fail_closed", "review")]
)
async def test_degraded_verdicts_follow_the_policy(policy: str, decision: str) -> None:
    config = CONFIG.model_copy(
        update={"decision": CONFIG.decision.model_copy(update={"degraded_policy": policy})}
    )
    base = _runtime(WordDetector("fake", 0.9))
    runtime = Runtime(
        config, REGISTRY, "v", base.detectors, type(base.decision)(config.decision, REGISTRY)
    )
    screener = Screener(runtime, FlakyState(failures=1))
    results = await screener.screen([_listing("a", "fake")], degrade=True)
    verdict = orjson.loads(results[0].verdict)
    assert verdict["decision"] == decision and verdict["reasons"][0]["code"] == "DEGRADED"
    with pytest.raises(StateUnavailable):
        await Screener(runtime, FlakyState(failures=1)).screen([_listing("a")])


def _pipeline(
    publisher: RecordingPublisher, state: MemoryStateStore | None = None, settle_s: float = 0.0
) -> ScreenPipeline:
    screener = Screener(
        _runtime(WordDetector("fake", 0.9)), state or MemoryStateStore(series_policies(CONFIG))
    )
    return ScreenPipeline(
        screener,
        publisher,
        TOPICS,
        KEYER,
        ScreenMetrics(),
        settle_s=settle_s,
        retry_initial_s=0.001,
    )


def _incoming(values: Sequence[bytes]) -> list[Incoming]:
    return [Incoming(f"k{i}".encode(), v, TOPICS.submitted, 0, i) for i, v in enumerate(values)]


async def test_pipeline_retries_infrastructure_then_publishes_everything() -> None:
    publisher = RecordingPublisher(fail_times=2)
    pipeline = _pipeline(publisher, FlakyState(failures=2))
    good = orjson.dumps(
        {
            "listing_id": "a",
            "seller_id": "s",
            "store_id": "st",
            "title": "fake bag",
            "category": "c",
            "price": 5,
        }
    )
    await pipeline.handle(_incoming([good, b"nope"]))
    assert [v["listing_id"] for v in publisher.on(TOPICS.verdicts)] == ["a"]
    assert len(publisher.on(TOPICS.complaints)) == 1
    dead = publisher.on(TOPICS.deadletter)
    assert dead[0]["offset"] == 1 and dead[0]["error"].startswith("not valid JSON")


async def test_a_poison_listing_is_dead_lettered_and_the_rest_screened() -> None:
    publisher = RecordingPublisher()
    values = [
        orjson.dumps(
            {
                "listing_id": f"l{i}",
                "seller_id": "s",
                "store_id": "st",
                "title": t,
                "category": "c",
                "price": 5,
            }
        )
        for i, t in enumerate(["ok", "boom", "fake"])
    ]
    await _pipeline(publisher).handle(_incoming(values))
    assert sorted(v["listing_id"] for v in publisher.on(TOPICS.verdicts)) == ["l0", "l2"]
    assert publisher.on(TOPICS.deadletter)[0]["error"].startswith("screening failed")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
listing_like = st.fixed_dictionaries(
    {
        "listing_id": st.text(max_size=5),
        "seller_id": st.text(max_size=3),
        "store_id": st.text(max_size=3),
        "title": st.text(max_size=40),
        "category": st.text(max_size=5),
    },
    optional={
        "price": json_values | st.floats(-10, 1e9),
        "revision": json_values,
        "image_phashes": json_values,
        "seller_signals": json_values,
        "created_at": json_values,
        "currency": json_values,
        "brand": json_values,
    },
)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.binary(max_size=64) | json_values.map(orjson.dumps) | listing_like.map(orjson.dumps),
        min_size=1,
        max_size=8,
    )
)
async def test_any_input_ends_as_a_verdict_or_a_dead_letter(values: list[bytes]) -> None:
    publisher = RecordingPublisher()
    await _pipeline(publisher).handle(_incoming(values))
    verdicts, dead = publisher.on(TOPICS.verdicts), publisher.on(TOPICS.deadletter)
    assert len(dead) + len({(v["listing_id"], v["revision"]) for v in verdicts}) <= len(values)
    # every event is accounted for: a dead letter, or a verdict for its listing key
    accounted = len(dead) + len(verdicts)
    assert accounted == len(values)


class _NothingRaised:
    """The complaints topic as seen right after a crash: empty."""

    def __init__(self) -> None:
        self.asked = 0

    async def already_raised(self, owed: Sequence[Any]) -> set[str]:
        self.asked += len(owed)
        return set()


async def test_a_repeat_of_a_batch_still_in_delivery_raises_no_second_complaint() -> None:
    publisher, raised = RecordingPublisher(), _NothingRaised()
    pipeline = _pipeline(publisher)
    pipeline.raised = raised
    value = orjson.dumps(
        {
            "listing_id": "a",
            "seller_id": "s",
            "store_id": "st",
            "title": "fake bag",
            "category": "c",
            "price": 5,
        }
    )
    first = await pipeline.prepare(_incoming([value]))
    again = await pipeline.prepare(_incoming([value]))  # resubmitted before the first landed
    assert raised.asked == 0, "an in-flight complaint is not a crash to recover from"
    await pipeline.deliver(first)
    await pipeline.deliver(again)
    assert len(publisher.on(TOPICS.verdicts)) == 2
    assert len(publisher.on(TOPICS.complaints)) == 1
    # a restarted worker (nothing in flight) over an unflagged entry asks the topic
    other = orjson.dumps({**orjson.loads(value), "listing_id": "b"})
    dying = await pipeline.prepare(_incoming([other]))
    assert dying.commit is not None
    await dying.commit.apply()  # state and ledger written, then the worker "dies"
    restarted = _pipeline(publisher)
    restarted.screener, restarted.raised = pipeline.screener, raised
    await restarted.deliver(await restarted.prepare(_incoming([other])))
    assert raised.asked == 1
    assert len(publisher.on(TOPICS.complaints)) == 2


async def test_an_entry_flagged_while_settling_is_not_read_back() -> None:
    """A repeat arriving while another worker still delivers the first screening (the ledger
    entry is unflagged but young) waits the settle time and then sees the flag."""
    publisher, raised = RecordingPublisher(), _NothingRaised()
    first = _pipeline(publisher)
    value = orjson.dumps(
        {
            "listing_id": "z",
            "seller_id": "s",
            "store_id": "st",
            "title": "fake bag",
            "category": "c",
            "price": 5,
        }
    )
    prepared = await first.prepare(_incoming([value]))
    other = _pipeline(publisher, settle_s=0.3)  # another worker, same state
    other.screener, other.raised = first.screener, raised
    repeat = asyncio.create_task(other.prepare(_incoming([value])))
    await asyncio.sleep(0.05)
    await first.deliver(prepared)  # the first worker's delivery lands meanwhile
    await other.deliver(await repeat)
    assert raised.asked == 0
    assert len(publisher.on(TOPICS.complaints)) == 1


async def test_a_deferred_commit_is_answered_from_memory_until_it_lands() -> None:
    state = MemoryStateStore(series_policies(CONFIG))
    screener = Screener(_runtime(WordDetector("fake", 0.9)), state)
    first, pending = await screener.screen_deferred([_listing("a", "fake bag")])
    assert pending is not None and first[0].fresh
    assert state._ledger == {}  # type: ignore[attr-defined]  # nothing written yet
    again, none = await screener.screen_deferred([_listing("a", "fake bag")])
    assert none is None and not again[0].fresh and again[0].verdict == first[0].verdict
    changed, later = await screener.screen_deferred([_listing("a", "plain bag")])
    assert later is not None and changed[0].fresh and changed[0].decision == "allow"
    # the later write waits for the earlier one, so the newest content is what stays
    landing = asyncio.create_task(later.apply())
    await asyncio.sleep(0.01)
    assert not landing.done()
    await pending.apply()
    await landing
    assert state._ledger["a:0"].verdict == changed[0].verdict  # type: ignore[attr-defined]
    assert screener._uncommitted == {}


class SlowReadState(MemoryStateStore):
    """Reads the state when asked, then answers only when ``release`` is set: a read that was
    sent before a commit landed and comes back after it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release: asyncio.Event | None = None

    async def fetch(self, *args: Any, **kwargs: Any) -> StateSnapshot:
        snapshot = await super().fetch(*args, **kwargs)
        if self.release is not None:
            await self.release.wait()
        return snapshot


async def test_a_commit_landing_while_a_read_is_in_flight_still_answers_the_repeat() -> None:
    state = SlowReadState(series_policies(CONFIG))
    screener = Screener(_runtime(WordDetector("fake", 0.9)), state)
    first, pending = await screener.screen_deferred([_listing("a", "fake bag")])
    assert pending is not None
    state.release = asyncio.Event()
    repeat = asyncio.create_task(screener.screen_deferred([_listing("a", "fake bag")]))
    await asyncio.sleep(0.01)  # the repeat's read saw no ledger entry
    await pending.apply()  # the commit lands and leaves memory meanwhile
    state.release.set()
    again, none = await repeat
    assert none is None and not again[0].fresh and again[0].verdict == first[0].verdict


async def test_an_abandoned_commit_is_forgotten() -> None:
    screener = Screener(
        _runtime(WordDetector("fake", 0.9)), MemoryStateStore(series_policies(CONFIG))
    )
    _, pending = await screener.screen_deferred([_listing("a", "fake bag")])
    assert pending is not None
    pending.abandon()
    again, after = await screener.screen_deferred([_listing("a", "fake bag")])
    assert again[0].fresh and after is not None
    await asyncio.wait_for(after.apply(), 1)  # not stuck behind the abandoned one


class NeedyDetector(WordDetector):
    """Fails while planning (``needs``) on a listing titled ``plan-boom``."""

    def needs(self, batch: ListingBatch) -> Any:
        if any(listing.title == "plan-boom" for listing in batch.listings):
            raise ValueError("poison listing while planning")
        return super().needs(batch)


async def test_a_listing_that_breaks_planning_is_dead_lettered_and_the_rest_screened() -> None:
    publisher = RecordingPublisher()
    screener = Screener(
        _runtime(NeedyDetector("fake", 0.9)), MemoryStateStore(series_policies(CONFIG))
    )
    pipeline = ScreenPipeline(
        screener, publisher, TOPICS, KEYER, ScreenMetrics(), retry_initial_s=0.001
    )
    values = [
        orjson.dumps(
            {"listing_id": f"l{i}", "seller_id": "s", "store_id": "st", "title": t}
            | {"category": "c", "price": 5}
        )
        for i, t in enumerate(["ok", "plan-boom", "fake"])
    ]
    planned = pipeline.plan(_incoming(values))
    assert planned.plan is None and len(planned.accepted) == 3
    await pipeline.deliver(await pipeline.screen(planned))
    assert sorted(v["listing_id"] for v in publisher.on(TOPICS.verdicts)) == ["l0", "l2"]
    dead = publisher.on(TOPICS.deadletter)
    assert len(dead) == 1 and dead[0]["error"].startswith("screening failed")


async def test_a_plan_made_ahead_is_screened_on_the_config_it_was_made_with() -> None:
    state = MemoryStateStore(series_policies(CONFIG))
    screener = Screener(_runtime(WordDetector("fake", 0.9)), state)
    listings = [_listing("a", "fake bag")]
    plan = screener.plan(listings)
    screener.swap(_runtime(WordDetector("bag", 0.1, code="OTHER")))  # a reload in between
    results, pending = await screener.screen_deferred(listings, plan=plan)
    assert pending is not None
    await pending.apply()
    verdict = orjson.loads(results[0].verdict)
    assert [r["code"] for r in verdict["reasons"]] == ["WORD"]
    with pytest.raises(ValueError, match="listings it was made for"):
        await screener.screen_deferred(list(listings), plan=screener.plan(listings))


class HistoryDetector(WordDetector):
    """Also keeps each listing in its store's history (a state update), and fails computing
    the updates of a listing titled ``"fake poison"``."""

    def __init__(self) -> None:
        super().__init__("fake", 0.9)
        self.computed = 0

    def updates(
        self, batch: ListingBatch, state: StateSnapshot, decisions: Sequence[str]
    ) -> StateUpdates:
        self.computed += 1
        updates = StateUpdates()
        for listing in batch.listings:
            if listing.title == "fake poison":
                raise ValueError("poison listing")
            updates.add(Series.STORE_LISTINGS, listing.store_id, listing.key, time.time())
        return updates


async def test_deferred_updates_are_computed_when_the_commit_is_applied() -> None:
    state = MemoryStateStore(series_policies(CONFIG))
    detector = HistoryDetector()
    screener = Screener(_runtime(detector), state)
    results, pending = await screener.screen_deferred([_listing("a")], defer_updates=True)
    assert pending is not None and results[0].decision == "allow"
    assert detector.computed == 0  # the answer did not wait for them
    await pending.apply()
    await pending.apply()  # a retried commit computes them once
    assert detector.computed == 1
    assert list(state.series_members(Series.STORE_LISTINGS, "st")) == ["a:0"]
    # by default they are computed while screening, so a failing detector fails the batch
    # (where the stream path screens one by one and refuses only the culprit)
    with pytest.raises(ValueError, match="poison"):
        await screener.screen_deferred([_listing("b", "fake poison")])
    answered, failing = await screener.screen_deferred(
        [_listing("c", "fake poison")], defer_updates=True
    )
    assert answered[0].decision != "allow" and failing is not None
    with pytest.raises(ValueError, match="poison"):
        await failing.apply()
