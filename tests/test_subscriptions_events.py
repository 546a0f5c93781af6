"""integratedAccountEvents over graphql-transport-ws, against server processes.

Events come from account mutations sent over HTTP, as a dashboard would
send them. To show that an event does not arrive without waiting for a
timeout, a test makes a second event that the subscriber may see after the
first one, and checks that the second is the first to arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Seeder
from tests.database_backend import Databases
from tests.servers.api import ApiServer, SeededTenant, api_server, seed_tenant
from tests.servers.graphql_ws import authenticated_socket

EVENTS = """
subscription Events($filter: IntegratedAccountEventFilter) {
  integratedAccountEvents(filter: $filter) {
    id
    type
    name
    integratedAccountId
    environmentId
    account
    integratedAccount { tenantId }
  }
}
"""

UPDATE_TENANT_ID = """
mutation Rename($id: ID!, $tenantId: String!) {
  updateIntegratedAccount(input: {id: $id, tenantId: $tenantId}) {
    userErrors { message }
  }
}
"""

DELETE_ACCOUNT = """
mutation Delete($id: ID!) {
  deleteIntegratedAccount(input: {id: $id}) { userErrors { message } }
}
"""


@pytest.fixture(scope="module")
def database_url(database_backend: Databases) -> str:
    return database_backend.new_migrated()


@pytest.fixture(scope="module")
def seeder(database_url: str) -> Iterator[Seeder]:
    writer = Seeder(database_url)
    yield writer
    writer.close()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ApiServer]:
    with api_server(database_url, EVENT_POLL_SECONDS="0.05") as running:
        yield running


@pytest.fixture(scope="module")
def second_server(database_url: str) -> Iterator[ApiServer]:
    with api_server(database_url, EVENT_POLL_SECONDS="0.05") as running:
        yield running


@pytest.fixture
def seeded(seeder: Seeder) -> SeededTenant:
    return seed_tenant(seeder)


def _post(server: ApiServer, token: str, query: str, **variables: Any) -> None:
    response = httpx.post(
        server.graphql_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload


def _rename(server: ApiServer, token: str, account_id: str, tenant_id: str) -> None:
    _post(server, token, UPDATE_TENANT_ID, id=account_id, tenantId=tenant_id)


async def _next_event(socket: Any, operation_id: str = "events") -> dict[str, Any]:
    message = await socket.receive()
    assert message["type"] == "next", message
    assert message["id"] == operation_id
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["integratedAccountEvents"]
    return event


async def test_update_reaches_subscriber(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)

        _rename(server, token, seeded.production_account_id, "renamed-once")
        event = await _next_event(socket)

    assert event["type"] == "UPDATED"
    assert event["name"] == "integrated_account:updated"
    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["environmentId"] == str(seeded.tenant.production.id)
    assert event["account"]["tenant_id"] == "renamed-once"


async def test_each_event_loads_current_account(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    account_id = seeded.production_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)

        _rename(server, token, account_id, "first-name")
        first = await _next_event(socket)
        _rename(server, token, account_id, "second-name")
        second = await _next_event(socket)

    assert first["integratedAccount"] == {"tenantId": "first-name"}
    assert second["integratedAccount"] == {"tenantId": "second-name"}


async def test_environment_token_gets_only_its_environment(
    server: ApiServer, seeded: SeededTenant
) -> None:
    tenant = seeded.tenant
    async with authenticated_socket(
        server.websocket_url, tenant.production_token
    ) as socket:
        await socket.subscribe("events", EVENTS)

        _rename(server, tenant.team_token, seeded.staging_account_id, "staging")
        _rename(server, tenant.team_token, seeded.production_account_id, "prod")
        event = await _next_event(socket)

    assert event["integratedAccountId"] == seeded.production_account_id


async def test_other_team_gets_none_of_the_events(
    server: ApiServer, seeder: Seeder
) -> None:
    ours = seed_tenant(seeder)
    theirs = seed_tenant(seeder)
    async with authenticated_socket(
        server.websocket_url, theirs.tenant.team_token
    ) as socket:
        await socket.subscribe("events", EVENTS)

        _rename(server, ours.tenant.team_token, ours.production_account_id, "ours")
        _rename(
            server, theirs.tenant.team_token, theirs.production_account_id, "theirs"
        )
        event = await _next_event(socket)

    assert event["integratedAccountId"] == theirs.production_account_id


async def test_type_filter_skips_other_types(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    account_id = seeded.production_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "events", EVENTS, {"filter": {"type": {"eq": "DELETED"}}}
        )

        _rename(server, token, account_id, "renamed-before-delete")
        _post(server, token, DELETE_ACCOUNT, id=account_id)
        event = await _next_event(socket)

    assert event["type"] == "DELETED"
    assert event["integratedAccountId"] == account_id
    assert event["integratedAccount"] is None


async def test_account_filter_skips_other_accounts(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    target = seeded.staging_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "events", EVENTS, {"filter": {"integratedAccountId": {"in": [target]}}}
        )

        _rename(server, token, seeded.production_account_id, "other")
        _rename(server, token, target, "target")
        event = await _next_event(socket)

    assert event["integratedAccountId"] == target


async def test_event_from_second_process_arrives(
    server: ApiServer, second_server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)

        _rename(second_server, token, seeded.production_account_id, "from-second")
        event = await _next_event(socket)

    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["account"]["tenant_id"] == "from-second"


async def test_two_subscriptions_both_get_event(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("first", EVENTS)
        await socket.subscribe("second", EVENTS)

        _rename(server, token, seeded.production_account_id, "seen-twice")
        messages = [await socket.receive(), await socket.receive()]

    assert sorted(message["id"] for message in messages) == ["first", "second"]
    assert all(message["type"] == "next" for message in messages)


async def test_malformed_account_id_in_filter_gets_error(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "events", EVENTS, {"filter": {"integratedAccountId": {"eq": "nope"}}}
        )
        message = await socket.receive()

    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'nope' is not a valid id" in error["message"]


async def test_unknown_account_id_in_filter_is_accepted(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    unknown = str(uuid.uuid4())
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "unknown", EVENTS, {"filter": {"integratedAccountId": {"eq": unknown}}}
        )
        await socket.subscribe("all", EVENTS)

        _rename(server, token, seeded.production_account_id, "any")
        message = await socket.receive()

    assert message["id"] == "all"
