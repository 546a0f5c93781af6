"""HTTP protections: rate limits, request bounds, CSRF rules and time limits."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Column, MetaData, Table, select, update

from db.session import Database
from db.types import GUID, JSONDocument
from graphql_api.http import MAX_BODY_BYTES
from graphql_api.security.middleware import json_depth
from graphql_api.security.rate_limit import RateLimiter
from tests.conftest import GraphQLClient, LiveServer, Seeder, Tenant, make_tenant
from tests.security.servers import limited_server
from tests.upstream.accounts import CREATE, api_key_config, install
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

RATE_LIMIT = 3
QUERY = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
def bounded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("bounded") / "api.db"
    with limited_server(
        path,
        rate_limit_requests=RATE_LIMIT,
        rate_limit_window_seconds=600.0,
        max_variables_bytes=1000,
        max_json_depth=8,
        request_timeout_seconds=1.0,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def bounded_seeder(bounded_server: LiveServer) -> Iterator[Seeder]:
    seeder = Seeder(bounded_server.database_url)
    yield seeder
    seeder.close()


@pytest.fixture
def bounded_tenant(bounded_seeder: Seeder) -> Tenant:
    # A new tenant per test, so that each test starts with a full quota.
    return make_tenant(bounded_seeder)


def _post(
    server: LiveServer, token: str | None, body: Any, **headers: str
) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(
        f"{server.url}/graphql",
        content=json.dumps(body),
        headers={"content-type": "application/json", **headers},
        timeout=30,
        trust_env=False,
    )


def test_rate_limit_headers_count_down(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    responses = [
        _post(bounded_server, bounded_tenant.team_token, QUERY)
        for _ in range(RATE_LIMIT)
    ]

    assert [response.status_code for response in responses] == [200] * RATE_LIMIT
    assert [response.headers["ratelimit-remaining"] for response in responses] == [
        "2",
        "1",
        "0",
    ]
    assert responses[0].headers["ratelimit-limit"] == str(RATE_LIMIT)
    assert 0 < int(responses[0].headers["ratelimit-reset"]) <= 600


def test_request_over_rate_limit_gets_429(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    for _ in range(RATE_LIMIT):
        _post(bounded_server, bounded_tenant.team_token, QUERY)

    response = _post(bounded_server, bounded_tenant.team_token, QUERY)

    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/json")
    assert 0 < int(response.headers["retry-after"]) <= 600
    assert response.headers["ratelimit-remaining"] == "0"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED"}
    assert "Retry after" in error["message"]


def test_rate_limit_is_per_token(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    for _ in range(RATE_LIMIT + 1):
        _post(bounded_server, bounded_tenant.team_token, QUERY)

    other = _post(bounded_server, bounded_tenant.production_token, QUERY)

    assert other.status_code == 200
    assert other.headers["ratelimit-remaining"] == str(RATE_LIMIT - 1)


def test_rate_limiter_starts_new_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0])

    first = [limiter.hit("a").allowed for _ in range(3)]
    now[0] = 10.0
    after_window = limiter.hit("a")

    assert first == [True, True, False]
    assert after_window.allowed
    assert after_window.remaining == 1
    assert after_window.reset_seconds == 10


def test_rate_limiter_table_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(1, 10.0, max_clients=3, clock=lambda: now[0])

    for client in ("a", "b", "c", "d", "e"):
        limiter.hit(client)

    assert len(limiter._windows) == 3
    assert list(limiter._windows) == ["c", "d", "e"]


def test_large_variables_get_413(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    body = {"query": "{ __typename }", "variables": {"blob": "x" * 1000}}

    response = _post(bounded_server, bounded_tenant.team_token, body)

    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert "more than the maximum of 1000" in error["message"]


def test_variables_at_limit_are_accepted(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    # {"blob":"..."} adds 11 bytes around the string.
    body = {"query": "{ __typename }", "variables": {"blob": "x" * 989}}

    response = _post(bounded_server, bounded_tenant.team_token, body)

    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_deep_json_body_gets_400(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    # The body object is one level, so variables may nest seven more.
    accepted = {"query": "{ __typename }", "variables": {"v": _nested(6)}}
    rejected = {"query": "{ __typename }", "variables": {"v": _nested(7)}}

    ok = _post(bounded_server, bounded_tenant.team_token, accepted)
    too_deep = _post(bounded_server, bounded_tenant.team_token, rejected)

    assert ok.status_code == 200
    assert too_deep.status_code == 400
    assert "nested more than 8 levels" in too_deep.json()["errors"][0]["message"]


def test_deep_json_url_parameter_gets_400(
    bounded_server: LiveServer, bounded_tenant: Tenant
) -> None:
    response = httpx.get(
        f"{bounded_server.url}/graphql",
        params={"query": "{ __typename }", "variables": json.dumps({"v": _nested(9)})},
        headers={"authorization": f"Bearer {bounded_tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 400
    assert "'variables' URL parameter" in response.json()["errors"][0]["message"]


def test_json_depth_stops_past_limit() -> None:
    assert json_depth({"a": [1, {"b": []}]}, 10) == 4
    assert json_depth(_nested(100_000), 64) == 65
    assert json_depth("scalar", 0) == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(
            "application/x-www-form-urlencoded",
            "query=mutation%7BdeleteIntegration%7D",
            id="form",
        ),
        pytest.param(
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{}\r\n--x--',
            id="multipart",
        ),
        pytest.param("text/plain", json.dumps(QUERY), id="text-plain"),
    ],
)
def test_simple_form_posts_get_415(
    live_server: LiveServer, seeder: Seeder, content_type: str, body: str
) -> None:
    tenant = make_tenant(seeder)

    response = httpx.post(
        f"{live_server.url}/graphql",
        content=body,
        headers={
            "content-type": content_type,
            "authorization": f"Bearer {tenant.team_token}",
        },
        trust_env=False,
    )

    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_mutation_over_get_gets_405(live_server: LiveServer, seeder: Seeder) -> None:
    tenant = make_tenant(seeder)
    mutation = (
        'mutation { deleteIntegration(input: {id: "00000000-0000-0000-0000-'
        '000000000000"}) { userErrors { code } } }'
    )

    response = httpx.get(
        f"{live_server.url}/graphql",
        params={"query": mutation},
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_batched_request_gets_400(live_server: LiveServer, seeder: Seeder) -> None:
    tenant = make_tenant(seeder)

    response = _post(live_server, tenant.team_token, [QUERY, QUERY])

    assert response.status_code == 400
    assert (
        "Batched requests are not supported" in response.json()["errors"][0]["message"]
    )


def test_body_over_limit_gets_413(live_server: LiveServer, seeder: Seeder) -> None:
    tenant = make_tenant(seeder)
    body = {"query": "{ __typename }", "variables": {"x": "y" * MAX_BODY_BYTES}}

    response = _post(live_server, tenant.team_token, body)

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_slow_request_times_out_with_503(
    bounded_server: LiveServer, bounded_seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(bounded_seeder, api_key_config(upstream))
    upstream.api_keys["key-slow"] = {"read"}
    upstream.script("/api/account", Reply(200, json={"data": {"id": 1}}, delay=5.0))
    variables = {
        "input": {
            "environmentIntegrationId": str(installed.install.id),
            "tenantId": "slow",
            "context": {"api_key": "key-slow"},
        }
    }

    response = _post(
        bounded_server, installed.token, {"query": CREATE, "variables": variables}
    )

    assert response.status_code == 503
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TIMEOUT"}
    assert "did not finish within 1 s" in error["message"]


def test_tampered_secret_is_masked(
    client: GraphQLClient,
    seeder: Seeder,
    live_server: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = make_tenant(seeder)
    account = seeder.account(
        seeder.install(tenant.production, seeder.integration(tenant.team)),
        context={"api_key": "k-1"},
    )
    _corrupt_context(live_server, str(account.id))

    response = client.post(
        "{ integratedAccounts { nodes { context } } }", token=tenant.team_token
    )

    request_id = response.headers["x-request-id"]
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": request_id,
    }
    assert "$enc:" not in response.text
    assert "authentication" not in response.text
    assert any(record.exc_info for record in caplog.records)


def _corrupt_context(server: LiveServer, account_id: str) -> None:
    """Change the last character of the sealed api_key, as disk damage would."""
    # The stored JSON as it is, without the SecretJSON type that decrypts it.
    table = Table(
        "integrated_account",
        MetaData(),
        Column("id", GUID, primary_key=True),
        Column("context", JSONDocument),
    )

    async def corrupt() -> None:
        database = Database(server.database_url)
        try:
            async with database.write_session() as session:
                where = table.c.id == uuid.UUID(account_id)
                document = dict(
                    await session.scalar(select(table.c.context).where(where))
                )
                sealed = document["api_key"]
                document["api_key"] = sealed[:-1] + ("A" if sealed[-1] != "A" else "B")
                await session.execute(
                    update(table).where(where).values(context=document)
                )
        finally:
            await database.dispose()

    asyncio.run(corrupt())
