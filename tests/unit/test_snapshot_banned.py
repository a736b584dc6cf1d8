"""``StateSnapshot.banned_among`` answers as ``store`` does for each id, whichever side it walks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from state.base import StateSnapshot, StoreStatus

ids = st.sampled_from([f"s{i}" for i in range(12)])
statuses = st.dictionaries(ids, st.booleans().map(lambda b: StoreStatus(banned=b)), max_size=8)


@given(stores=statuses, offenders=statuses, asked=st.sets(ids, max_size=12))
def test_banned_among_agrees_with_store(
    stores: dict[str, StoreStatus], offenders: dict[str, StoreStatus], asked: set[str]
) -> None:
    snapshot = StateSnapshot(stores=dict(stores), offenders=offenders)
    assert snapshot.banned_among(asked) == {s for s in asked if snapshot.store(s).banned}


def test_a_status_of_the_batch_overrides_the_offender_copy() -> None:
    snapshot = StateSnapshot(
        stores={"a": StoreStatus(banned=False)},
        offenders={"a": StoreStatus(banned=True), "b": StoreStatus(banned=True)},
    )
    assert snapshot.banned_among({"a", "b", "c", "d", "e"}) == {"b"}
