"""A per-process feed of newly committed events, shared by all subscriptions.

One reader per database reads the ``event`` rows in commit order and hands
each one to every subscriber's queue. Rows written by any process reach it,
because it reads them from the database:

- On SQLite, writers hold the database's write lock one at a time, so rowid
  order is commit order. The reader polls ``rowid > cursor`` every
  `EventFeed.poll_seconds` seconds (a keyset cursor on the rowid).
- On PostgreSQL, the ``event_recorded`` trigger (migration 0004) sends
  ``NOTIFY integrated_account_events`` with the event id when an insert
  commits. The reader LISTENs on a connection of its own and loads the
  notified rows by id.

A subscriber gets the events committed from about the moment it subscribed
(at most one poll earlier). Each subscriber's queue stores at most
`MAX_QUEUED_EVENTS`. A subscriber that falls further behind is ended with
`SubscriberOverflowError`, so that one slow client cannot make the server
keep events without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnClause, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from db import models
from db.session import Database

logger = logging.getLogger("graphql_api.event_feed")

NOTIFY_CHANNEL = "integrated_account_events"
# Rows read per query; a full batch makes the reader read again at once.
BATCH_SIZE = 500
MAX_QUEUED_EVENTS = 1000
# Ids of the newest delivered rows that the SQLite reader remembers, to find
# its place again after the row at its cursor was deleted or renumbered.
REMEMBERED_IDS = 200
# Seconds the reader waits after a failed read before it tries again.
RETRY_SECONDS = 1.0
DEFAULT_POLL_SECONDS = 0.5
# SQLite's implicit row number. The ``event`` table has no INTEGER PRIMARY KEY,
# so SQLite assigns it.
event_rowid: ColumnClause[Any] = literal_column("event.rowid")


class SubscriberOverflowError(Exception):
    """Raised to a subscriber whose queue overflowed, because it missed events."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event row with the team of its environment, for scope checks."""

    row: models.Event
    team_id: uuid.UUID


class Subscriber:
    """One subscription's queue of events, filled by the feed's reader."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[RecordedEvent] = asyncio.Queue(MAX_QUEUED_EVENTS)
        self._overflowed = asyncio.Event()

    def offer(self, event: RecordedEvent) -> None:
        """Queue an event, or mark the subscriber overflowed when it is full."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed.set()

    async def next_event(self) -> RecordedEvent:
        """Wait for the next event.

        Raises SubscriberOverflowError once the queue has overflowed.
        """
        if self._overflowed.is_set():
            raise SubscriberOverflowError
        return await self._queue.get()


class EventSource(Protocol):
    """A reader of new event rows in commit order."""

    async def start(self) -> None:
        """Open the source and place its cursor after the newest event."""

    async def read(self) -> tuple[list[RecordedEvent], bool]:
        """Return new events and whether more are ready to read at once."""

    async def wait(self, timeout: float) -> None:
        """Wait until new events may be ready, at most `timeout` seconds."""

    async def close(self) -> None:
        """Release the source's connections."""


def _recorded_events_query() -> Select[models.Event, uuid.UUID]:
    return select(models.Event, col(models.Environment.team_id)).join(
        models.Environment,
        col(models.Environment.id) == col(models.Event.environment_id),
    )


class RowidSource:
    """Reads SQLite's ``event`` table by rowid, which follows commit order."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._cursor = 0
        self._recent: deque[uuid.UUID] = deque(maxlen=REMEMBERED_IDS)
        self._newest_created_at: datetime | None = None

    async def start(self) -> None:
        async with self._database.read_session() as session:
            newest = await session.execute(
                select(
                    event_rowid,
                    col(models.Event.id),
                    col(models.Event.created_at),
                )
                .order_by(event_rowid.desc())
                .limit(1)
            )
            row = newest.first()
        if row is not None:
            self._cursor = row[0]
            self._recent.append(row[1])
            self._newest_created_at = row[2]

    async def read(self) -> tuple[list[RecordedEvent], bool]:
        query = (
            _recorded_events_query()
            .add_columns(event_rowid)
            .order_by(event_rowid)
            .limit(BATCH_SIZE)
        )
        async with self._database.read_session() as session:
            await self._find_cursor_again(session)
            rows = (
                await session.execute(query.where(event_rowid > self._cursor))
            ).all()
        events = [
            RecordedEvent(row=event, team_id=team_id) for event, team_id, _ in rows
        ]
        if rows:
            self._cursor = rows[-1][2]
            self._recent.extend(event.row.id for event in events)
            self._newest_created_at = events[-1].row.created_at
        return events, len(rows) == BATCH_SIZE

    async def _find_cursor_again(self, session: Any) -> None:
        """Move the cursor back when the row at it was deleted or renumbered.

        A new row takes the largest rowid plus one, so after the newest rows
        are deleted new rows reuse rowids at or below the cursor, and VACUUM
        may renumber every row. The newest remembered row that still exists
        marks where delivery stopped. When none is left, the newest row no
        later than the last delivered event is taken as delivered, because
        rows written since then carry later timestamps.
        """
        if not self._recent:
            return
        at_cursor = await session.scalar(
            select(col(models.Event.id)).where(event_rowid == self._cursor)
        )
        if at_cursor == self._recent[-1]:
            return
        found = await session.scalar(
            select(func.max(event_rowid)).where(col(models.Event.id).in_(self._recent))
        )
        if found is None:
            found = await session.scalar(
                select(func.max(event_rowid)).where(
                    col(models.Event.created_at) <= self._newest_created_at
                )
            )
            logger.warning(
                "event_feed_cursor_lost cursor=%d resumed_at=%s "
                "reason='the remembered events are gone'",
                self._cursor,
                found,
            )
        self._cursor = found or 0

    async def wait(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def close(self) -> None:
        return None


class NotifySource:
    """Reads the events that PostgreSQL's NOTIFY announces, in commit order."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._pending: deque[uuid.UUID] = deque()
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._connection = await self._database.engine.connect()
        raw = await self._connection.get_raw_connection()
        self._driver = raw.driver_connection
        await self._driver.add_listener(NOTIFY_CHANNEL, self._on_notify)

    def _on_notify(
        self, _connection: Any, _pid: int, _channel: str, payload: str
    ) -> None:
        try:
            self._pending.append(uuid.UUID(payload))
        except ValueError:
            logger.warning(
                "event_feed_bad_notification payload_length=%d", len(payload)
            )
            return
        self._ready.set()

    async def read(self) -> tuple[list[RecordedEvent], bool]:
        if self._driver is None or self._driver.is_closed():
            await self._reconnect()
        ids = [
            self._pending.popleft() for _ in range(min(BATCH_SIZE, len(self._pending)))
        ]
        if not self._pending:
            self._ready.clear()
        if not ids:
            return [], False
        query = _recorded_events_query().where(col(models.Event.id).in_(ids))
        async with self._database.read_session() as session:
            rows = (await session.execute(query)).all()
        by_id = {
            event.id: RecordedEvent(row=event, team_id=team_id)
            for event, team_id in rows
        }
        events = [by_id[event_id] for event_id in ids if event_id in by_id]
        return events, bool(self._pending)

    async def _reconnect(self) -> None:
        # NOTE: events committed while the LISTEN connection was down are not
        # delivered; subscribers can read them with the `events` query.
        logger.warning("event_feed_listener_reconnecting channel=%s", NOTIFY_CHANNEL)
        await self.close()
        await self.start()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    async def close(self) -> None:
        if self._driver is not None and not self._driver.is_closed():
            with contextlib.suppress(Exception):
                await self._driver.remove_listener(NOTIFY_CHANNEL, self._on_notify)
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._driver = None


class EventFeed:
    """Hands new events of one database to every subscriber in this process.

    The reader runs only while someone subscribes: the first subscriber
    starts it and the last one to leave stops it.
    """

    def __init__(
        self, database: Database, poll_seconds: float = DEFAULT_POLL_SECONDS
    ) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self._subscribers: set[Subscriber] = set()
        self._source: EventSource | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        """Register a subscriber for the duration of the block."""
        subscriber = Subscriber()
        async with self._lock:
            if self._reader is None:
                await self._start()
            self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            async with self._lock:
                self._subscribers.discard(subscriber)
                if not self._subscribers:
                    await self._stop()

    @property
    def subscriber_count(self) -> int:
        """Number of subscribers in this process."""
        return len(self._subscribers)

    async def _start(self) -> None:
        source: EventSource = (
            RowidSource(self.database)
            if self.database.is_sqlite
            else NotifySource(self.database)
        )
        await source.start()
        self._source = source
        self._reader = asyncio.create_task(self._read_forever(source))
        logger.info("event_feed_started source=%s", type(source).__name__)

    async def _stop(self) -> None:
        reader, source = self._reader, self._source
        self._reader = self._source = None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if source is not None:
            await source.close()
        logger.info("event_feed_stopped")

    async def _read_forever(self, source: EventSource) -> None:
        while True:
            try:
                events, more = await source.read()
            except Exception:
                logger.exception("event_feed_read_failed retry_in=%.1fs", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for event in events:
                for subscriber in self._subscribers:
                    subscriber.offer(event)
            if not more:
                await source.wait(self.poll_seconds)


_feeds: weakref.WeakKeyDictionary[Database, EventFeed] = weakref.WeakKeyDictionary()


def register_feed(feed: EventFeed) -> None:
    """Make `feed` the one that `feed_for` returns for its database."""
    _feeds[feed.database] = feed


def feed_for(database: Database) -> EventFeed:
    """Return the feed of `database`, creating one with default settings."""
    feed = _feeds.get(database)
    if feed is None:
        feed = EventFeed(database)
        register_feed(feed)
    return feed
