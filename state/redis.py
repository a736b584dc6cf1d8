"""The Redis backend: each batch is one round trip to read and one to write.

The read runs a few scripts (the offender copy's sync, series and ledger, bucket tables, price
groups, and inline tables, which take the batch's additions in the same call: by default the
sync of the worker's replica of each, ``state.replica``); the write one,
two or three. A round trip sends them as parts of one script bundle (``state.bundle``): one
``EVALSHA``, packed in C, one reply (``state.transport``). Packing a batch into a handful of
script calls (rather than a pipeline of thousands of commands) keeps the Python side to a few
encodes per batch; a bundle runs atomically, so two workers updating the same series
interleave whole batches, never half of one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from state import bucket_codec, inline_codec, price_codec, replica
from state.base import (
    LedgerEntry,
    LedgerWrite,
    Series,
    SeriesPolicy,
    StateNeeds,
    StateSnapshot,
    StateStore,
    StateUpdates,
    StorePolicy,
    StoreStatus,
)
from state.buckets import INLINE_KINDS, BucketPolicy, Buckets, default_bucket_policies
from state.bundle import bundle_args, bundle_source
from state.errors import StateCorrupt, StateUnavailable
from state.inline import ProbeAdd
from state.offender_copy import OffenderCopy
from state.prices import PricePolicy
from state.transport import Lane

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
"""A call's bound for a store made from a URL without one."""


_INCLUDE = "--@include "


def _source(name: str) -> str:
    return resources.files("state").joinpath("scripts", name).read_text("utf-8")


def _script(name: str) -> str:
    """A script's source, each ``--@include <file>`` line replaced by that file of
    ``scripts/`` (Redis runs each script alone: a helper two scripts share is written once
    and pasted into both here). Included files are not expanded further."""
    return "".join(
        _source(line[len(_INCLUDE) :].strip()) if line.startswith(_INCLUDE) else line
        for line in _source(name).splitlines(keepends=True)
    )


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _status(fields: Sequence[Any]) -> StoreStatus:
    banned, strikes, banned_at = fields
    return StoreStatus(
        banned=banned is not None and _text(banned) == "1",
        strikes=int(strikes) if strikes is not None else 0,
        banned_at=float(banned_at) if banned_at is not None else 0.0,
    )


def _by_kind(probes: Sequence[ProbeAdd]) -> dict[Buckets, list[ProbeAdd]]:
    """The probes of each inline table, in order."""
    found: dict[Buckets, list[ProbeAdd]] = {}
    for probe in probes:
        found.setdefault(probe.kind, []).append(probe)
    return found


def _add_own(own: Sequence[tuple[replica.LogReplica, replica.SyncPlan, int]]) -> None:
    """Replay a read's own records into the replica (a callback of the store's loop)."""
    for table, sync, index in own:
        try:
            table.add_own(sync, index)
        except StateCorrupt as exc:  # left in the log: the next read replays it, or says so
            log.warning("replica %s: own records not replayed: %s", table.kind.value, exc)


class RedisStateStore(StateStore):
    """State in Redis. ``timeout_s`` bounds every call; past it :class:`StateUnavailable`.

    ``inline_tables``: ``"replica"`` (the default) probes inline tables in a replica this
    store keeps of each, synced from a log in Redis in every fetch (``state.replica``);
    ``"redis"`` keeps their buckets in Redis and probes them there
    (``scripts/probe_add_buckets.lua``). The two keep different keys: switching starts the
    tables empty."""

    def __init__(
        self,
        client: aioredis.Redis,
        policies: Mapping[Series, SeriesPolicy],
        *,
        prefix: str = "haze",
        ledger_ttl_s: float = 7 * 86400,
        store_policy: StorePolicy | None = None,
        timeout_s: float | None = None,
        bucket_policies: Mapping[Buckets, BucketPolicy] | None = None,
        price_policy: PricePolicy | None = None,
        inline_tables: str = "replica",
    ) -> None:
        if inline_tables not in ("replica", "redis"):
            raise ValueError(f"inline_tables must be 'replica' or 'redis', not {inline_tables!r}")
        self.client = client
        self.prefix = prefix
        self._policies = dict(policies)
        window = max((policy.window_s for policy in self._policies.values()), default=30 * 86400.0)
        self._bucket_policies = dict(bucket_policies or default_bucket_policies(window))
        self._price_policy = price_policy or PricePolicy(window)
        self._baselines = price_codec.BaselineCache()
        self._ledger_ttl = max(1, int(ledger_ttl_s))
        self._store_policy = store_policy or StorePolicy()
        self._timeout = timeout_s
        self._strike = client.register_script(_script("strike.lua"))
        self._offenders = client.register_script(_script("offenders.lua"))
        # A batch's scripts go as parts of one bundle (state/bundle.py), one EVALSHA a round
        # trip. A Redis that lost its script cache answers NOSCRIPT before running anything:
        # the bundle is loaded and the call sent again.
        self._bundle = bundle_source(
            {
                name: _script(f"{name}.lua")
                for name in (
                    "fetch",
                    "commit",
                    "mark_emitted",
                    "fetch_buckets",
                    "commit_buckets",
                    "fetch_prices",
                    "commit_prices",
                    "probe_add_buckets",
                    "log_sync",
                    "sync_offenders",
                )
            }
        )
        self._bundle_sha = _sha1(self._bundle)
        self._lane = Lane(client)
        self.offenders = OffenderCopy()
        self.replicas: dict[Buckets, replica.LogReplica] | None = None
        if inline_tables == "replica":
            self.replicas = replica.replicas_for(self._bucket_policies, prefix, list(INLINE_KINDS))
            replica.warm()
        inline_codec.warm()
        bucket_codec.warm()

    @classmethod
    def from_url(
        cls, url: str, policies: Mapping[Series, SeriesPolicy], **kwargs: Any
    ) -> RedisStateStore:
        if kwargs.get("timeout_s") is None:
            kwargs["timeout_s"] = DEFAULT_TIMEOUT_S  # the only bound on a call (below)
        timeout = kwargs["timeout_s"]
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            # No socket timeout of the client's own (redis-py 8 sets 5 s unless told): with one
            # it sends every command through asyncio.wait_for, a task and three more turns of
            # the event loop before the reply is even awaited. Every call of this store runs
            # inside _call's timeout scope instead.
            socket_timeout=None,
            health_check_interval=30,
            retry_on_timeout=False,
        )
        return cls(client, policies, **kwargs)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            if self._timeout is None:
                return await make()
            async with asyncio.timeout(self._timeout):  # no task per call, as wait_for makes
                return await make()
        except (TimeoutError, RedisError, OSError) as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc

    async def fetch(
        self, needs: StateNeeds, ledger_keys: Sequence[str], now: float
    ) -> StateSnapshot:
        """One pipeline: the offender copy's sync, the series and ledger script, the bucket
        tables' read and the inline tables' probes (each only when asked for). Store statuses
        come from the offender copy, so no script reads them store by store."""
        wanted = [(kind, sid) for kind, ids in needs.series.items() for sid in ids]
        if not (
            wanted or needs.stores or ledger_keys or needs.buckets or needs.probes or needs.prices
        ):
            return StateSnapshot()
        calls: list[tuple[str, list[Any]]] = [("sync_offenders", self.offenders.args(self.prefix))]
        series_call = bool(wanted or ledger_keys)
        if series_call:
            series = b""
            if wanted:
                series = orjson.dumps(
                    {
                        "windows": {kind.value: p.window_s for kind, p in self._policies.items()},
                        "expand": [kind.value for kind in needs.member_stores],
                        "series": [(kind.value, sid) for kind, sid in wanted],
                        "stores": [],
                    }
                )
            calls.append(("fetch", [self.prefix, now, series, *ledger_keys]))
        if needs.buckets:
            bucket_args, order = bucket_codec.fetch_args(
                needs.buckets, self._bucket_policies, self.prefix, now
            )
            calls.append(("fetch_buckets", bucket_args))
        if needs.prices:
            price_args, groups, digests = price_codec.fetch_args(needs.prices, self.prefix, now)
            calls.append(("fetch_prices", price_args))
        plans = []
        syncs = []
        if self.replicas is None:
            for probe in needs.probes:
                policy = self._bucket_policies[probe.kind]
                probe_args, plan = inline_codec.probe_args(probe, policy, self.prefix, now)
                calls.append(("probe_add_buckets", probe_args))
                plans.append((probe.kind, plan))
        else:
            for kind, probes in _by_kind(needs.probes).items():
                table = self.replicas[kind]
                sync = table.plan(probes, now)
                calls.append(("log_sync", table.sync_args(sync, now)))
                syncs.append((table, sync, probes))
        replies = await self._call(lambda: self._eval_together(*calls))
        self.offenders.apply(replies[0])
        statuses = self.offenders.statuses
        snapshot = StateSnapshot(series={kind: {} for kind in needs.series}, offenders=statuses)
        for store_id in needs.stores:
            status = statuses.get(store_id)
            if status is not None:
                snapshot.stores[store_id] = status
        at = 1
        flat_stores: list[Any] = []
        if series_call:
            rows = replies[at]
            at += 1
            self._read_series(snapshot, wanted, ledger_keys, rows)
            flat_stores += list(rows[-1])
        if needs.buckets:
            snapshot.buckets, more = bucket_codec.read_fetch(
                replies[at], order, self._bucket_policies, now
            )
            at += 1
            flat_stores += more
        if needs.prices:
            snapshot.prices = price_codec.read_fetch(
                replies[at], groups, digests, self._price_policy, now, self._baselines
            )
            at += 1
        for (kind, plan), reply in zip(plans, replies[at : at + len(plans)], strict=True):
            hits = inline_codec.read_probe(reply, plan, self._bucket_policies[kind], now)
            if len(hits):
                snapshot.inline[kind] = hits
        own: list[tuple[replica.LogReplica, replica.SyncPlan, int]] = []
        for (table, sync, probes), reply in zip(syncs, replies[at + len(plans) :], strict=True):
            table.take(sync, reply)
            await self._sync_to_end(table, sync, now)
            for index, probe in enumerate(probes):
                hits = table.probe(probe, now)
                if len(hits):
                    snapshot.inline[probe.kind] = hits
                own.append((table, sync, index))
        if own:
            # The batch's own records go into the replica once its caller has moved on (the
            # inline path's answer does not wait for them): add_own skips any that the next
            # read has replayed already, as that read skips any that add_own replayed.
            asyncio.get_running_loop().call_soon(_add_own, own)
        for j in range(0, len(flat_stores), 4):
            snapshot.stores[_text(flat_stores[j])] = _status(flat_stores[j + 1 : j + 4])
        return snapshot

    @staticmethod
    def _read_series(
        snapshot: StateSnapshot,
        wanted: Sequence[tuple[Series, str]],
        ledger_keys: Sequence[str],
        rows: Sequence[Any],
    ) -> None:
        for (kind, sid), flat in zip(wanted, rows, strict=False):
            if flat:
                # C-level map/zip: a batch can decode thousands of members
                snapshot.series[kind][sid] = list(
                    zip(map(bytes.decode, flat[0::2]), map(float, flat[1::2]), strict=True)
                )
        ledger_rows = rows[len(wanted) : len(wanted) + len(ledger_keys)]
        for key, (fingerprint, verdict, emitted) in zip(ledger_keys, ledger_rows, strict=True):
            if fingerprint is not None and verdict is not None:
                snapshot.ledger[key] = LedgerEntry(
                    _text(fingerprint), bytes(verdict), emitted=_text(emitted or b"0") == "1"
                )

    async def commit(
        self, updates: StateUpdates, ledger: Sequence[LedgerWrite], now: float
    ) -> None:
        bucket_args = bucket_codec.commit_args(
            updates.buckets, self._bucket_policies, self.prefix, now
        )
        price_args = price_codec.commit_args(
            updates.prices, updates.baselines, self.prefix, self._price_policy
        )
        if not updates.adds and not ledger and bucket_args is None and price_args is None:
            return
        calls: list[tuple[str, list[Any]]] = []
        if updates.adds or ledger:
            series = b""
            if updates.adds:
                series = orjson.dumps(
                    {
                        "policies": {
                            kind.value: (policy.window_s, policy.max_members)
                            for kind, policy in self._policies.items()
                        },
                        "adds": [
                            (kind.value, sid, member, t) for kind, sid, member, t in updates.adds
                        ],
                    }
                )
            args: list[Any] = [self.prefix, now, self._ledger_ttl, series]
            for write in ledger:  # the verdict bytes as they are
                args += (write.key, write.fingerprint, write.verdict)
            calls.append(("commit", args))
        if bucket_args is not None:
            calls.append(("commit_buckets", bucket_args))
        if price_args is not None:
            calls.append(("commit_prices", price_args))
        await self._call(lambda: self._eval_together(*calls))

    async def _eval_together(self, *calls: tuple[str, list[Any]]) -> list[Any]:
        """Run several scripts in one round trip, atomically: as parts of the bundle."""
        command = ("EVALSHA", self._bundle_sha, 0, *bundle_args(calls))
        try:
            replies = await self._lane.execute(command)
        except NoScriptError:  # nothing ran: load the bundle and send it again
            await self.client.script_load(self._bundle)
            replies = await self._lane.execute(command)
        return list(replies)

    async def mark_emitted(self, keys: Sequence[str]) -> None:
        if keys:
            await self._call(lambda: self._eval_together(("mark_emitted", [self.prefix, *keys])))

    async def ban_store(self, store_id: str, now: float) -> StoreStatus:
        args: list[Any] = [self.prefix, "ban", store_id, now]
        return _status(await self._call(lambda: self._offenders(args=args)))

    async def clear_store(self, store_id: str) -> StoreStatus:
        args: list[Any] = [self.prefix, "clear", store_id, 0]
        await self._call(lambda: self._offenders(args=args))
        return StoreStatus()

    async def add_strike(self, store_id: str, strike_id: str, now: float) -> StoreStatus:
        window = max(policy.window_s for policy in self._policies.values())
        args: list[Any] = [
            self.prefix,
            store_id,
            strike_id,
            now,
            self._store_policy.strikes_to_ban,
            window,
        ]
        return _status(await self._call(lambda: self._strike(args=args)))

    async def ping(self) -> bool:
        try:
            return bool(await self._call(lambda: self.client.ping()))
        except StateUnavailable:
            return False

    @property
    def held_bytes(self) -> int:
        """Bytes of the replicated tables' arrays in use (read from any thread: a snapshot of
        the slots, which the store's own loop may change meanwhile)."""
        tables = list((self.replicas or {}).values())
        return sum(table.nbytes for table in tables)

    async def catch_up(self, now: float) -> None:
        """Read every replicated table's logs to their end (several answers of at most
        ``replica.READ_LIMIT`` bytes a slot each), so that a worker that just started probes
        its first batch without reading the whole window then: the inline path's first
        requests would otherwise spend their Redis budget catching up."""
        for table in (self.replicas or {}).values():
            await self._sync_to_end(table, table.plan([], now), now)

    async def _sync_to_end(
        self, table: replica.LogReplica, sync: replica.SyncPlan, now: float
    ) -> None:
        """Call ``log_sync`` until every slot of ``sync`` is read to its end (and its records,
        if any, appended): a replica further behind than ``READ_LIMIT`` needs several."""
        while sync.pending:
            call = ("log_sync", table.sync_args(sync, now))
            reply = await self._call(functools.partial(self._eval_together, call))
            table.take(sync, reply[0])

    async def release(self) -> None:
        """Hand the connections this store keeps back to its client's pool (the client stays
        open: several stores may share it)."""
        await self._lane.close()

    async def close(self) -> None:
        await self._lane.close()
        await self.client.aclose()
