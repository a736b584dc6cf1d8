"""A worker's copy of the offender index, kept in step with Redis in every fetch.

The duplicate detector needs the status of every store it meets in a bucket, and a batch meets
thousands. Reading them in the script costs per-store work on every batch, although statuses
change rarely (a ban, a strike). So each worker keeps the whole index (``<prefix>:offenders``,
one small entry per store that has a status) and every fetch asks Redis what changed since its
copy's sequence number (``scripts/sync_offenders.lua``): usually nothing, sometimes a few store
ids, and the whole index only on first contact, after a long gap or when the history was reset
(its epoch changed). A status is therefore exactly as fresh as the fetch that reads it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from state.base import StoreStatus


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_status(value: Any) -> StoreStatus:
    """An index value, ``"banned,strikes,banned_at"``."""
    banned, strikes, banned_at = _text(value).split(",", 2)
    return StoreStatus(
        banned=banned == "1", strikes=int(strikes or 0), banned_at=float(banned_at or 0)
    )


class OffenderCopy:
    """The statuses of every store that has one, as of the last :meth:`apply`."""

    def __init__(self) -> None:
        self._epoch = ""
        self._seq = -1
        self._statuses: dict[str, StoreStatus] = {}
        self.full_loads = 0

    def args(self, prefix: str) -> list[Any]:
        """ARGV for ``sync_offenders.lua``."""
        return [prefix, self._epoch, self._seq, secrets.token_hex(8)]

    def apply(self, reply: Sequence[Any]) -> None:
        """Take in the script's answer."""
        epoch, seq = _text(reply[0]), int(reply[1])
        if len(reply) > 2:
            kind = _text(reply[2])
            if kind == "full":
                flat = reply[3]
                self._statuses = {
                    _text(flat[j]): parse_status(flat[j + 1]) for j in range(0, len(flat), 2)
                }
                self.full_loads += 1
            else:
                for store_id, value in zip(reply[3], reply[4], strict=True):
                    if value is None:
                        self._statuses.pop(_text(store_id), None)
                    else:
                        self._statuses[_text(store_id)] = parse_status(value)
        self._epoch, self._seq = epoch, seq

    @property
    def statuses(self) -> Mapping[str, StoreStatus]:
        """A read-only view (it follows later updates)."""
        return MappingProxyType(self._statuses)
