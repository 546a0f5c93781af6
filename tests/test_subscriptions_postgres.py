"""Subscriptions on PostgreSQL, where LISTEN/NOTIFY carries new events.

These tests run on PostgreSQL whatever backend the run selected, because
only PostgreSQL has the NOTIFY trigger. They are skipped when no PostgreSQL
server can start here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import Seeder
from tests.database_backend import PostgresDatabases, fetch_all
from tests.servers.api import ApiServer, SeededTenant, api_server, seed_tenant
from tests.servers.events import next_event, rename, wait_until_active
from tests.servers.graphql_ws import authenticated_socket

EVENTS = """
subscription {
  integratedAccountEvents { name integratedAccountId account }
}
"""


@pytest.fixture(scope="module")
def database_url(postgres_databases: PostgresDatabases) -> str:
    return postgres_databases.new_migrated()


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[SeededTenant]:
    seeder = Seeder(database_url)
    yield seed_tenant(seeder)
    seeder.close()


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[tuple[ApiServer, ApiServer]]:
    with api_server(database_url) as first, api_server(database_url) as second:
        yield first, second


def test_migration_installs_notify_trigger(database_url: str) -> None:
    rows = fetch_all(
        database_url,
        text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'event'::regclass"),
    )

    assert ("event_recorded",) in rows


async def test_event_from_second_process_arrives_by_notify(
    servers: tuple[ApiServer, ApiServer], seeded: SeededTenant
) -> None:
    listening, writing = servers
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    async with authenticated_socket(listening.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, writing, token, probe)

        rename(writing, token, seeded.production_account_id, "pg")
        event = await next_event(socket, "events", probe)

    assert event["name"] == "integrated_account:updated"
    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["account"]["tenant_id"] == "pg"
