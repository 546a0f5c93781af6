"""The event feed's SQLite reader and its hand-off to subscribers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import col

from db import models
from db.migrate import upgrade
from db.session import Database
from db.types import utc_now
from graphql_api.event_feed import (
    MAX_QUEUED_EVENTS,
    EventFeed,
    RecordedEvent,
    RowidSource,
    Subscriber,
    SubscriberOverflowError,
)
from tests.conftest import Seeder


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}"
    upgrade(url)
    return url


@pytest.fixture
def seeder(database_url: str) -> Iterator[Seeder]:
    writer = Seeder(database_url)
    yield writer
    writer.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    yield opened
    await opened.dispose()


@pytest.fixture
def account(seeder: Seeder) -> models.IntegratedAccount:
    team = seeder.team()
    environment = seeder.environment(team)
    install = seeder.install(environment, seeder.integration(team))
    return seeder.account(install)


def _add_event(seeder: Seeder, account: models.IntegratedAccount) -> uuid.UUID:
    event = models.Event(
        type="integrated_account:updated",
        environment_id=account.environment_id,
        integrated_account_id=account.id,
        integration_id=account.integration_id,
        payload={},
        created_at=utc_now(),
    )
    seeder.add(event)
    return event.id


async def _delete_event(database: Database, event_id: uuid.UUID) -> None:
    async with database.write_session() as session:
        await session.execute(
            delete(models.Event).where(col(models.Event.id) == event_id)
        )


async def _read_ids(source: RowidSource) -> list[uuid.UUID]:
    events, _more = await source.read()
    return [event.row.id for event in events]


async def test_reader_returns_new_events_in_order(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    source = RowidSource(database)
    await source.start()

    first = _add_event(seeder, account)
    second = _add_event(seeder, account)

    assert await _read_ids(source) == [first, second]
    assert await _read_ids(source) == []


async def test_reader_skips_events_before_start(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    _add_event(seeder, account)
    source = RowidSource(database)
    await source.start()

    later = _add_event(seeder, account)

    assert await _read_ids(source) == [later]


async def test_reader_returns_team_of_environment(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    source = RowidSource(database)
    await source.start()
    _add_event(seeder, account)

    events, _more = await source.read()

    environment = seeder.get(models.Environment, account.environment_id)
    assert environment is not None
    assert [event.team_id for event in events] == [environment.team_id]


async def test_reader_finds_event_reusing_deleted_rowid(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    _add_event(seeder, account)
    source = RowidSource(database)
    await source.start()
    newest = _add_event(seeder, account)
    assert await _read_ids(source) == [newest]

    await _delete_event(database, newest)
    replacement = _add_event(seeder, account)

    assert await _read_ids(source) == [replacement]


async def test_reader_finds_event_after_every_remembered_deleted(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    source = RowidSource(database)
    await source.start()
    only = _add_event(seeder, account)
    assert await _read_ids(source) == [only]

    await _delete_event(database, only)
    replacement = _add_event(seeder, account)

    assert await _read_ids(source) == [replacement]


async def test_feed_gives_event_to_every_subscriber(
    database: Database, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    feed = EventFeed(database, poll_seconds=0.01)

    async with feed.subscribe() as first, feed.subscribe() as second:
        event_id = _add_event(seeder, account)
        received = [await first.next_event(), await second.next_event()]

    assert [event.row.id for event in received] == [event_id, event_id]
    assert feed.subscriber_count == 0


async def test_full_queue_ends_subscriber() -> None:
    subscriber = Subscriber()
    event = RecordedEvent(
        row=models.Event(
            type="integrated_account:updated", environment_id=uuid.uuid4()
        ),
        team_id=uuid.uuid4(),
    )

    for _ in range(MAX_QUEUED_EVENTS + 1):
        subscriber.offer(event)

    with pytest.raises(SubscriberOverflowError):
        await subscriber.next_event()
