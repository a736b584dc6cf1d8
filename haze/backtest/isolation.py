"""Fresh, isolated state for one run: a unique Redis key prefix removed afterwards, or memory.

Every key Haze writes starts with ``<prefix>:`` (``state/keys.py``), so a run under a prefix
no one else uses cannot read or change production state, and deleting ``<prefix>:*`` when the
run ends (also on an error or Ctrl-C) leaves the database as it was. Use a separate Redis
database in the URL (``redis://host:6379/15``) to keep even the scan away from production.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from config.thresholds import ScreenConfig
from haze.backtest.errors import BacktestError
from state.base import StateStore
from state.memory import MemoryStateStore
from state.policies import bucket_policies, series_policies, store_policy
from state.redis import RedisStateStore

log = logging.getLogger(__name__)
_UNLINK_CHUNK = 500


@dataclass(slots=True)
class Isolated:
    """The state of one run and, after it, how many keys were removed."""

    state: StateStore
    where: str
    prefix: str | None = None
    removed: int = 0


def redact(url: str) -> str:
    """The URL without its password, for reports and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def fresh_prefix(tag: str) -> str:
    """A key prefix no other run uses (valid as ``state.key_prefix``)."""
    return f"haze{tag}-{uuid.uuid4().hex[:12]}"


async def delete_prefix(client: aioredis.Redis, prefix: str) -> int:
    """Remove every ``<prefix>:*`` key; returns how many."""
    removed, batch = 0, []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= _UNLINK_CHUNK:
            removed += int(await client.unlink(*batch))
            batch = []
    if batch:
        removed += int(await client.unlink(*batch))
    return removed


@asynccontextmanager
async def isolated_state(
    config: ScreenConfig, redis_url: str | None, *, tag: str = "bt"
) -> AsyncIterator[Isolated]:
    """State for one run under ``config``'s windows and caps: memory when ``redis_url`` is
    ``None``, else Redis under a fresh prefix that is deleted when the block exits."""
    if redis_url is None:
        memory = MemoryStateStore(
            series_policies(config), store_policy(config), bucket_policies(config)
        )
        yield Isolated(memory, "memory")
        return
    prefix = fresh_prefix(tag)
    store = RedisStateStore.from_url(
        redis_url,
        series_policies(config),
        prefix=prefix,
        ledger_ttl_s=config.state.ledger_ttl_days * 86400,
        store_policy=store_policy(config),
        bucket_policies=bucket_policies(config),
        timeout_s=30.0,
        inline_tables=config.state.inline_tables,
    )
    if not await store.ping():
        await store.close()
        raise BacktestError(
            f"cannot reach Redis at {redact(redis_url)} (set REDIS_URL or --redis-url, "
            "or run with --memory)"
        )
    isolated = Isolated(store, f"redis {redact(redis_url)} prefix {prefix}", prefix)
    try:
        yield isolated
    finally:
        try:
            isolated.removed = await delete_prefix(store.client, prefix)
        except (RedisError, OSError) as exc:
            log.warning(
                "could not remove the keys of prefix %s (%s); remove them with: "
                "redis-cli --scan --pattern '%s:*' | xargs redis-cli unlink",
                prefix,
                exc,
                prefix,
            )
        await store.close()
