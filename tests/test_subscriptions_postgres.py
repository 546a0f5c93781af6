"""Subscriptions on PostgreSQL, where LISTEN/NOTIFY carries new events.

These tests run on PostgreSQL whatever backend the run selected, because
only PostgreSQL has the NOTIFY trigger. They are skipped when no PostgreSQL
server can start here.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Seeder
from tests.database_backend import PostgresDatabases, fetch_all
from tests.servers.api import ApiServer, SeededTenant, api_server, seed_tenant
from tests.servers.graphql_ws import authenticated_socket

EVENTS = """
subscription {
  integratedAccountEvents { name integratedAccountId account }
}
"""

UPDATE_TENANT_ID = """
mutation Rename($id: ID!, $tenantId: String!) {
  updateIntegratedAccount(input: {id: $id, tenantId: $tenantId}) {
    userErrors { message }
  }
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
    async with authenticated_socket(listening.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)
        response = httpx.post(
            writing.graphql_url,
            json={
                "query": UPDATE_TENANT_ID,
                "variables": {"id": seeded.production_account_id, "tenantId": "pg"},
            },
            headers={"authorization": f"Bearer {token}"},
            trust_env=False,
        )
        message = await socket.receive()

    assert response.status_code == 200
    assert message["type"] == "next"
    event = message["payload"]["data"]["integratedAccountEvents"]
    assert event["name"] == "integrated_account:updated"
    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["account"]["tenant_id"] == "pg"
