"""Every Redis key Haze writes, in one place (the Lua scripts build the same shapes).

``<prefix>:<series kind>:<id>``  sorted set, member -> event time   (rolling, capped, expiring)
``<prefix>:store:<store_id>``     hash: banned, strikes, banned_at    (offender status)
``<prefix>:strikes:<store_id>``   set of strike ids                   (expires with the window)
``<prefix>:offenders``            hash: store_id -> "banned,strikes,banned_at" for every store
                                  with a status (an index of the store hashes, kept in step by
                                  scripts/offenders.lua and strike.lua)
``<prefix>:ledger:<listing key>`` hash: fp, v (verdict JSON), e       (expires after ledger TTL)
``<prefix>:prices:r:<group>``     string: a price group's ring: header (n, cap), cap 8-byte
                                  listing digests, cap 16-byte records (state/price_ring.py)
``<prefix>:prices:b:<spec>:<group>`` string: the group's baseline for one estimator spec
                                  (both expire a day after the window, from their last write)
``<prefix>:<bucket kind>:<part>:<slot>`` hash: 8-byte bucket value -> entry handles
``<prefix>:<bucket kind>:e:<slot>``     hash: entry handle -> record  (state/bucket_codec.py;
                                  both expire a day after their time slot leaves the window)
``<prefix>:<inline kind>:<part>:<slot>`` hash: 4-byte bucket key -> the bucket's entries
                                  themselves (state/inline_codec.py; expires like the above)
``<prefix>:offenders:seq``        counter of offender-status changes, ``:log`` the ids of the
                                  last changed stores, ``:epoch`` a token naming this history
                                  (workers keep a copy of the offender index in step with them)
"""

from __future__ import annotations

from state.base import Series
from state.buckets import Buckets


def series_key(prefix: str, kind: Series, series_id: str) -> str:
    return f"{prefix}:{kind.value}:{series_id}"


def price_ring_key(prefix: str, group: str) -> str:
    """A price group's ring (the kind letter comes before the group, so no group name can
    spell another key)."""
    return f"{prefix}:prices:r:{group}"


def price_baseline_key(prefix: str, spec_digest: str, group: str) -> str:
    """A price group's stored baseline for one estimator spec (digests are hex)."""
    return f"{prefix}:prices:b:{spec_digest}:{group}"


def store_key(prefix: str, store_id: str) -> str:
    return f"{prefix}:store:{store_id}"


def strikes_key(prefix: str, store_id: str) -> str:
    return f"{prefix}:strikes:{store_id}"


def offenders_key(prefix: str) -> str:
    return f"{prefix}:offenders"


def ledger_key(prefix: str, listing_key: str) -> str:
    return f"{prefix}:ledger:{listing_key}"


def bucket_base(prefix: str, kind: Buckets, part: int) -> str:
    """The keys of one part of a bucket table, without the slot (the fetch script adds it)."""
    return f"{prefix}:{kind.value}:{part}"


def kind_base(prefix: str, kind: Buckets) -> str:
    """The keys of a whole inline bucket table, without part and slot (the script adds them)."""
    return f"{prefix}:{kind.value}"


def bucket_entries_base(prefix: str, kind: Buckets) -> str:
    """The entry-record hashes of a bucket table, without the slot."""
    return f"{prefix}:{kind.value}:e"
