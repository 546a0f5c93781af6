"""integratedAccountEvents over graphql-transport-ws, against server processes.

Events come from account mutations sent over HTTP, as a dashboard would
send them. Each test first waits until its subscriptions are active (see
`tests.servers.events`). To show that an event does not arrive without
waiting for a timeout, a test makes a second event that the subscriber may
see after the first one, and checks that the second is the first to arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Seeder
from tests.database_backend import Databases
from tests.servers.api import ApiServer, SeededTenant, api_server, seed_tenant
from tests.servers.events import (
    next_event,
    next_event_of_any,
    post_mutation,
    rename,
    wait_until_active,
)
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


async def test_update_reaches_subscriber(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, server, token, probe)

        rename(server, token, seeded.production_account_id, "renamed-once")
        event = await next_event(socket, "events", probe)

    assert event["type"] == "UPDATED"
    assert event["name"] == "integrated_account:updated"
    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["environmentId"] == str(seeded.tenant.production.id)
    assert event["account"]["tenant_id"] == "renamed-once"


async def test_each_event_loads_current_account(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    account_id = seeded.production_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, server, token, probe)

        rename(server, token, account_id, "first-name")
        first = await next_event(socket, "events", probe)
        rename(server, token, account_id, "second-name")
        second = await next_event(socket, "events", probe)

    assert first["integratedAccount"] == {"tenantId": "first-name"}
    assert second["integratedAccount"] == {"tenantId": "second-name"}


async def test_environment_token_gets_only_its_environment(
    server: ApiServer, seeded: SeededTenant
) -> None:
    tenant = seeded.tenant
    probe = seeded.probe_account_id
    async with authenticated_socket(
        server.websocket_url, tenant.production_token
    ) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, server, tenant.team_token, probe)

        rename(server, tenant.team_token, seeded.staging_account_id, "staging")
        rename(server, tenant.team_token, seeded.production_account_id, "prod")
        event = await next_event(socket, "events", probe)

    assert event["integratedAccountId"] == seeded.production_account_id


async def test_other_team_gets_none_of_the_events(
    server: ApiServer, seeder: Seeder
) -> None:
    ours = seed_tenant(seeder)
    theirs = seed_tenant(seeder)
    their_token = theirs.tenant.team_token
    probe = theirs.probe_account_id
    async with authenticated_socket(server.websocket_url, their_token) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, server, their_token, probe)

        rename(server, ours.tenant.team_token, ours.production_account_id, "ours")
        rename(server, their_token, theirs.production_account_id, "theirs")
        event = await next_event(socket, "events", probe)

    assert event["integratedAccountId"] == theirs.production_account_id


async def test_type_filter_skips_other_types(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    account_id = seeded.production_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "events", EVENTS, {"filter": {"type": {"eq": "DELETED"}}}
        )
        await wait_until_active(socket, server, token, probe)

        rename(server, token, account_id, "renamed-before-delete")
        post_mutation(server, token, DELETE_ACCOUNT, id=account_id)
        event = await next_event(socket, "events", probe)

    assert event["type"] == "DELETED"
    assert event["integratedAccountId"] == account_id
    assert event["integratedAccount"] is None


async def test_account_filter_skips_other_accounts(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    target = seeded.staging_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "events", EVENTS, {"filter": {"integratedAccountId": {"in": [target]}}}
        )
        await wait_until_active(socket, server, token, probe)

        rename(server, token, seeded.production_account_id, "other")
        rename(server, token, target, "target")
        event = await next_event(socket, "events", probe)

    assert event["integratedAccountId"] == target


async def test_event_from_second_process_arrives(
    server: ApiServer, second_server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("events", EVENTS)
        await wait_until_active(socket, server, token, probe)

        rename(second_server, token, seeded.production_account_id, "from-second")
        event = await next_event(socket, "events", probe)

    assert event["integratedAccountId"] == seeded.production_account_id
    assert event["account"]["tenant_id"] == "from-second"


async def test_two_subscriptions_both_get_event(
    server: ApiServer, seeded: SeededTenant
) -> None:
    token = seeded.tenant.team_token
    probe = seeded.probe_account_id
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe("first", EVENTS)
        await socket.subscribe("second", EVENTS)
        await wait_until_active(socket, server, token, probe)

        rename(server, token, seeded.production_account_id, "seen-twice")
        received = dict([await next_event_of_any(socket, probe) for _ in range(2)])

    assert sorted(received) == ["first", "second"]
    assert received["first"]["account"]["tenant_id"] == "seen-twice"
    assert received["second"]["account"]["tenant_id"] == "seen-twice"


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
    probe = seeded.probe_account_id
    unknown = str(uuid.uuid4())
    async with authenticated_socket(server.websocket_url, token) as socket:
        await socket.subscribe(
            "unknown", EVENTS, {"filter": {"integratedAccountId": {"eq": unknown}}}
        )
        await socket.subscribe("all", EVENTS)
        await wait_until_active(socket, server, token, probe)

        rename(server, token, seeded.production_account_id, "any")
        event = await next_event(socket, "all", probe)

    assert event["integratedAccountId"] == seeded.production_account_id
