"""The inline outbox: journaled before the answer, nothing lost to a crash or an outage, and no
complaint raised twice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from streams.complaint_log import OwedComplaint
from streams.journal import Journal, JournalInUse
from streams.outbox import Outbox
from streams.publisher import Record

COMPLAINTS = "complaints"
VERDICTS = "verdicts"


class _Kafka:
    """A recording publisher that can be down; it is also the complaints topic to read back."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.down = False

    async def publish(self, records: Sequence[Record]) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.records.extend(records)

    async def already_raised(self, owed: Sequence[OwedComplaint]) -> set[str]:
        on_topic = {
            orjson.loads(r.value)["complaint_id"] for r in self.records if r.topic == COMPLAINTS
        }
        return {o.complaint_id for o in owed if o.complaint_id in on_topic}

    def ids(self, topic: str) -> list[str]:
        field = "complaint_id" if topic == COMPLAINTS else "listing_id"
        return [orjson.loads(r.value)[field] for r in self.records if r.topic == topic]


def _listing(i: int, hit: bool = True) -> list[Record]:
    key = f"l{i}".encode()
    records = [Record(VERDICTS, key, orjson.dumps({"listing_id": f"l{i}"}))]
    if hit:
        complaint = {"complaint_id": f"c{i}", "created_at": "2026-01-01T00:00:00.000Z"}
        records.append(Record(COMPLAINTS, key, orjson.dumps(complaint)))
    return records


def _outbox(path: Path, kafka: _Kafka, marked: list[str] | None = None) -> Outbox:
    async def mark(keys: Sequence[str]) -> None:
        if marked is not None:
            marked.extend(keys)

    return Outbox(
        kafka,
        path / "outbox.journal",
        complaints_topic=COMPLAINTS,
        raised=kafka,
        on_delivered=mark,
        settle_s=0.0,
    )


async def test_delivers_in_order_flags_the_ledger_and_empties_the_journal(tmp_path: Path) -> None:
    kafka, marked = _Kafka(), []
    box = _outbox(tmp_path, kafka, marked)
    for i in range(5):
        assert box.put(_listing(i, hit=i % 2 == 0), f"l{i}:0")
    assert box.depth == 8 and box.owes_complaint("l0:0")
    await box._deliver_all()
    assert kafka.ids(VERDICTS) == [f"l{i}" for i in range(5)]
    assert kafka.ids(COMPLAINTS) == ["c0", "c2", "c4"]
    assert marked == [f"l{i}:0" for i in range(5)]
    assert box.depth == 0 and not box.owes_complaint("l0:0")
    assert box.journal.pending_bytes == 0


async def test_an_outage_keeps_everything_until_kafka_returns(tmp_path: Path) -> None:
    kafka = _Kafka()
    box = _outbox(tmp_path, kafka)
    kafka.down = True
    for i in range(3):
        box.put(_listing(i), f"l{i}:0")
    with pytest.raises(ConnectionError):
        await box._deliver_all()
    assert box.depth == 6
    kafka.down = False
    await box._deliver_all()
    assert kafka.ids(COMPLAINTS) == ["c0", "c1", "c2"] and box.depth == 0


async def test_a_crash_loses_nothing_and_raises_no_complaint_twice(tmp_path: Path) -> None:
    kafka = _Kafka()
    box = _outbox(tmp_path, kafka)
    for i in range(4):
        box.put(_listing(i), f"l{i}:0")
    # the first two reached Kafka, then the process died before moving the checkpoint
    await kafka.publish(_listing(0) + _listing(1))
    box.journal.close()  # (the kill)
    restarted = _outbox(tmp_path, kafka)
    assert restarted.depth == 8 and restarted.owes_complaint("l3:0")
    await restarted._deliver_all()
    assert sorted(kafka.ids(COMPLAINTS)) == ["c0", "c1", "c2", "c3"], "once each"
    assert sorted(set(kafka.ids(VERDICTS))) == ["l0", "l1", "l2", "l3"]


async def test_a_repeat_owing_a_complaint_is_checked_against_the_topic(tmp_path: Path) -> None:
    kafka = _Kafka()
    await kafka.publish(_listing(7))  # raised before a crash, ledger never flagged
    box = _outbox(tmp_path, kafka)
    box.put(_listing(7), "l7:0", verify_since=1.0)
    box.put(_listing(8), "l8:0", verify_since=1.0)
    await box._deliver_all()
    assert sorted(kafka.ids(COMPLAINTS)) == ["c7", "c8"]


def test_a_torn_last_line_is_cut_and_two_writers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path)
    journal.append([b"one", b"two"])
    with pytest.raises(JournalInUse):
        Journal(path)
    journal.close()
    with open(path, "ab") as file:
        file.write(b'{"half')  # a writer killed in the middle of an append
    again = Journal(path)
    again.append([b"three"])
    assert [line for line, _ in again.read(10)] == [b"one", b"two", b"three"]
    again.close()


def test_a_full_journal_refuses_and_counts(tmp_path: Path) -> None:
    box = Outbox(_Kafka(), tmp_path / "j", complaints_topic=COMPLAINTS, max_bytes=600)
    kept = [box.put(_listing(i), f"l{i}:0") for i in range(10)]
    assert kept[0] and not kept[-1]
    assert box.dropped > 0 and box.depth == 2 * sum(kept)


def test_a_delivered_journal_is_compacted_and_its_checkpoint_survives(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, compact_bytes=10)
    end = journal.append([b"x" * 20, b"y" * 20])
    first = next(iter(journal.read(1)))[1]
    journal.confirm(first)
    journal.close()
    reopened = Journal(path, compact_bytes=10)
    assert reopened.confirmed == first
    assert [line for line, _ in reopened.read(10)] == [b"y" * 20]
    reopened.confirm(end)
    assert path.stat().st_size == 0 and reopened.confirmed == 0
    reopened.close()


class _Commit:
    """A pending state write that records when it lands (or fails)."""

    def __init__(self, events: list[str], fail: bool = False) -> None:
        self.events, self.fail, self.entries = events, fail, 1
        self.abandoned = False

    async def apply(self) -> None:
        if self.fail:
            raise ConnectionError("redis away")
        self.events.append("commit")

    def abandon(self) -> None:
        self.abandoned = True


class _OrderedKafka(_Kafka):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def publish(self, records: Sequence[Record]) -> None:
        self.events.append("publish")
        await super().publish(records)


async def test_records_are_produced_only_after_their_state_write(tmp_path: Path) -> None:
    events: list[str] = []
    kafka = _OrderedKafka(events)
    box = _outbox(tmp_path, kafka)
    box.put(_listing(1), "l1:0", fingerprint="fp1")
    box.after(_Commit(events))  # type: ignore[arg-type]
    await box._deliver_all()
    assert events == ["commit", "publish"]


async def test_a_state_write_that_fails_is_given_up_and_the_verdicts_still_go(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    box = _outbox(tmp_path, _OrderedKafka(events))
    failing = _Commit(events, fail=True)
    box.put(_listing(1), "l1:0")
    box.after(failing)  # type: ignore[arg-type]
    await box._deliver_all()
    assert failing.abandoned and box.commits_abandoned == 1 and events == ["publish"]


async def test_a_restart_restores_the_ledger_of_what_it_delivers(tmp_path: Path) -> None:
    kafka = _Kafka()
    box = _outbox(tmp_path, kafka)
    box.put(_listing(1), "l1:0", fingerprint="fp1")
    box.put(_listing(2, hit=False), "l2:0", fingerprint="fp2")
    box.journal.close()  # killed before the state write landed
    restored: list[tuple[str, str, bytes]] = []

    async def restore(writes: Sequence[object]) -> None:
        restored.extend((w.key, w.fingerprint, w.verdict) for w in writes)  # type: ignore[attr-defined]

    again = Outbox(
        kafka,
        tmp_path / "outbox.journal",
        complaints_topic=COMPLAINTS,
        raised=kafka,
        restore_ledger=restore,
        settle_s=0.0,
    )
    await again._deliver_all()
    assert [(k, f) for k, f, _ in restored] == [("l1:0", "fp1"), ("l2:0", "fp2")]
    assert orjson.loads(restored[0][2])["listing_id"] == "l1"
    assert kafka.ids(COMPLAINTS) == ["c1"]
