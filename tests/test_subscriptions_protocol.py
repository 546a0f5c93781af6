"""The graphql-transport-ws protocol at /graphql: handshake, limits, keep-alive."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from db import models
from db.types import utc_now
from graphql_api.tokens import generate_token, hash_token
from tests.conftest import Seeder, Tenant, make_tenant
from tests.database_backend import Databases
from tests.servers.api import ApiServer, api_server
from tests.servers.graphql_ws import authenticated_socket, open_socket

MAX_OPERATIONS = 2
ALLOWED_ORIGIN = "http://dashboard.test"
EVENTS = "subscription { integratedAccountEvents { id } }"


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
    settings = {
        "SUBSCRIPTION_MAX_PER_CONNECTION": str(MAX_OPERATIONS),
        "SUBSCRIPTION_PING_SECONDS": "0.3",
        "SUBSCRIPTION_INIT_TIMEOUT_SECONDS": "0.5",
        "CORS_ALLOW_ORIGINS": ALLOWED_ORIGIN,
    }
    with api_server(database_url, **settings) as running:
        yield running


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.mark.parametrize(
    "payload_key",
    [
        pytest.param("Authorization", id="authorization-header"),
        pytest.param("authorization", id="lowercase-header"),
        pytest.param("token", id="token"),
    ],
)
async def test_connection_init_with_token_is_acknowledged(
    server: ApiServer, tenant: Tenant, payload_key: str
) -> None:
    value = tenant.team_token
    if payload_key != "token":
        value = f"Bearer {value}"

    async with open_socket(server.websocket_url) as socket:
        reply = await socket.init({payload_key: value})

    assert reply == {"type": "connection_ack"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param({}, "Missing API token", id="missing"),
        pytest.param({"token": "gapi_unknown"}, "Unknown API token", id="unknown"),
        pytest.param(
            {"Authorization": "Basic abc"}, "is not supported", id="basic-scheme"
        ),
    ],
)
async def test_connection_init_without_valid_token_closes_4403(
    server: ApiServer, payload: dict[str, str], reason: str
) -> None:
    async with open_socket(server.websocket_url) as socket:
        await socket.send({"type": "connection_init", "payload": payload})
        code, close_reason = await socket.wait_closed()

    assert code == 4403
    assert close_reason.startswith("Forbidden: ")
    assert reason in close_reason


async def test_revoked_token_closes_4403(
    server: ApiServer, seeder: Seeder, tenant: Tenant
) -> None:
    token = generate_token()
    row = models.ApiToken(team_id=tenant.team.id, token_hash=hash_token(token))
    seeder.add(row)

    async with authenticated_socket(server.websocket_url, token) as socket:
        row.revoked_at = utc_now()
        seeder.add(row)
        code, reason = await socket.wait_closed()

    assert code == 4403
    assert "revoked" in reason


async def test_legacy_graphql_ws_subprotocol_closes_4406(server: ApiServer) -> None:
    async with open_socket(server.websocket_url, subprotocol="graphql-ws") as socket:
        code, reason = await socket.wait_closed()

    assert code == 4406
    assert reason == "Subprotocol not acceptable"


async def test_subscribe_before_init_closes_4401(server: ApiServer) -> None:
    async with open_socket(server.websocket_url) as socket:
        await socket.subscribe("early", EVENTS)
        code, _reason = await socket.wait_closed()

    assert code == 4401


async def test_missing_connection_init_closes_4408(server: ApiServer) -> None:
    async with open_socket(server.websocket_url) as socket:
        code, _reason = await socket.wait_closed()

    assert code == 4408


async def test_second_connection_init_closes_4429(
    server: ApiServer, tenant: Tenant
) -> None:
    async with authenticated_socket(server.websocket_url, tenant.team_token) as socket:
        await socket.send({"type": "connection_init", "payload": {}})
        code, _reason = await socket.wait_closed()

    assert code == 4429


async def test_invalid_subscription_error_has_a_code(
    server: ApiServer, tenant: Tenant
) -> None:
    # A syntax error closes the socket with 4400 instead, as graphql-transport-ws
    # requires.
    async with authenticated_socket(server.websocket_url, tenant.team_token) as socket:
        await socket.subscribe("invalid", "subscription { nope }")
        message = await socket.receive()

    assert message["type"] == "error"
    assert message["id"] == "invalid"
    codes = [error["extensions"]["code"] for error in message["payload"]]
    assert codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_operation_over_limit_gets_error(
    server: ApiServer, tenant: Tenant
) -> None:
    async with authenticated_socket(server.websocket_url, tenant.team_token) as socket:
        for number in range(MAX_OPERATIONS):
            await socket.subscribe(f"running-{number}", EVENTS)
        await socket.subscribe("one-too-many", EVENTS)
        message = await socket.receive()

    assert message["type"] == "error"
    assert message["id"] == "one-too-many"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "SUBSCRIPTION_LIMIT_REACHED"}
    assert f"already runs {MAX_OPERATIONS} operations" in error["message"]


async def test_completed_operation_frees_its_slot(
    server: ApiServer, tenant: Tenant
) -> None:
    async with authenticated_socket(server.websocket_url, tenant.team_token) as socket:
        for number in range(MAX_OPERATIONS):
            await socket.subscribe(f"running-{number}", EVENTS)
        await socket.send({"id": "running-0", "type": "complete"})
        await socket.subscribe("query", "{ environments { totalCount } }")
        message = await socket.receive()

    assert message["id"] == "query"
    assert message["type"] == "next"
    assert message["payload"]["data"] == {"environments": {"totalCount": 2}}
    assert "errors" not in message["payload"]


async def test_server_pings_an_idle_connection(
    server: ApiServer, tenant: Tenant
) -> None:
    async with authenticated_socket(server.websocket_url, tenant.team_token) as socket:
        await socket.subscribe("events", EVENTS)
        # Answering two pings keeps the connection open past the ping interval,
        # which the query below then shows.
        while socket.pings < 2:
            await socket.send({"type": "ping"})
            assert await socket.receive() == {"type": "pong"}
        await socket.subscribe("query", "{ environments { totalCount } }")
        message = await socket.receive()

    assert message["id"] == "query"
    assert message["type"] == "next"


async def test_missing_pong_closes_4408(server: ApiServer, tenant: Tenant) -> None:
    async with authenticated_socket(
        server.websocket_url, tenant.team_token, answer_pings=False
    ) as socket:
        assert await socket.receive() == {"type": "ping"}
        code, reason = await socket.wait_closed()

    assert code == 4408
    assert "pong" in reason


def test_subscription_over_http_gets_400(server: ApiServer, tenant: Tenant) -> None:
    response = httpx.post(
        server.graphql_url,
        json={"query": EVENTS},
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert "graphql-transport-ws" in error["message"]


async def test_allowed_origin_can_connect(server: ApiServer, tenant: Tenant) -> None:
    async with open_socket(server.websocket_url, origin=ALLOWED_ORIGIN) as socket:
        reply = await socket.init({"token": tenant.team_token})

    assert reply == {"type": "connection_ack"}


async def test_other_origin_handshake_gets_403(server: ApiServer) -> None:
    with pytest.raises(InvalidStatus) as raised:
        async with open_socket(server.websocket_url, origin="http://other.test"):
            pass

    assert raised.value.response.status_code == 403
