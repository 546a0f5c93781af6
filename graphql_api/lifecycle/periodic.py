"""A background task that calls a coroutine function at a fixed interval.

Stopping waits for a call in progress to finish instead of cancelling it.
Cancelling a task in the middle of a database write can leave the
connection's transaction open, and on SQLite an open write transaction
locks out every other writer until the connection is collected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("graphql_api.lifecycle")


class Periodic:
    """Calls `call` every `interval` seconds inside ``async with``.

    A call that raises is logged with `event` and the next one runs as
    planned, because every call here is a retryable database write.
    """

    def __init__(
        self, interval: float, call: Callable[[], Awaitable[object]], event: str
    ) -> None:
        self.interval = interval
        self.call = call
        self.event = event
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Periodic:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass
            else:
                return
            try:
                await self.call()
            except Exception:
                logger.exception("%s", self.event)
