"""One command, one reply, over connections a store keeps, packed in C.

redis-py's asyncio client packs every argument in Python, and for every command borrows a
connection from its pool and gives it back (a lock, a readiness check of the socket and
bookkeeping each way); a pipeline adds a command stack and callbacks per command. A batch's
round trip is one ``EVALSHA`` of the script bundle (``state.bundle``), so a store sends it
here directly: on a connection it keeps between calls (taken from the client's pool when none
is free, so concurrent calls each get one), packed by hiredis, one write, one reply.

A connection that fails or is interrupted mid-call (a timeout cancels the call) is
disconnected and handed back to the pool, so no reply is ever left unread on one that is used
again; one that turns out dead (Redis restarted, an idle socket closed) is replaced, with
every other kept connection (a restart closed them all), and the command sent again (up to
``RETRIES`` times, on new sockets), which is safe because every batch script is idempotent.
An error reply is raised as redis-py raises it (``NoScriptError``, ``ResponseError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from state.bundle import pack

RETRIES = 3
"""Attempts on new connections after a kept one failed (the caller's timeout bounds them)."""
BACKOFF_S = 0.02
"""Wait before the second of them, doubled before each next."""


class Lane:
    """The connections of one store (one event loop)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._idle: list[AbstractConnection] = []

    async def execute(self, command: Sequence[Any]) -> Any:
        """Send ``command`` and return its reply."""
        try:
            return await self._once(command)
        except RedisConnectionError:  # Redis closed it: the others kept went with it
            await self._drop_idle()
        for attempt in range(RETRIES - 1):  # on new sockets (a Redis coming back may refuse)
            try:
                return await self._once(command, fresh=True)
            except RedisConnectionError:
                await asyncio.sleep(BACKOFF_S * 2**attempt)
        return await self._once(command, fresh=True)

    async def _drop_idle(self) -> None:
        pool = self._client.connection_pool
        while self._idle:
            connection = self._idle.pop()
            await connection.disconnect(nowait=True)
            await pool.release(connection)

    async def _once(self, command: Sequence[Any], *, fresh: bool = False) -> Any:
        """With ``fresh``, on a new socket: the pool's own check of a connection it hands
        out can miss one whose close it has not seen yet."""
        pool = self._client.connection_pool
        if self._idle and not fresh:
            connection = self._idle.pop()
        else:
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            if fresh:
                await connection.disconnect(nowait=True)  # sending connects again
        try:
            packed = pack(command)
            await connection.send_packed_command(
                packed if packed is not None else connection.pack_command(*command)
            )
            reply = await connection.read_response()
        except ResponseError:
            self._idle.append(connection)  # the whole reply was read: still in step
            raise
        except BaseException:
            await connection.disconnect(nowait=True)
            await pool.release(connection)
            raise
        self._idle.append(connection)
        return reply

    async def close(self) -> None:
        """Hand every kept connection back to the pool."""
        pool = self._client.connection_pool
        while self._idle:
            await pool.release(self._idle.pop())
