"""Bearer token authentication and the HTTP edge of the /graphql endpoint."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from db.types import utc_now
from graphql_api.http import MAX_BODY_BYTES
from tests.conftest import GraphQLClient, LiveServer, Seeder, Tenant, make_tenant

ENVIRONMENT_COUNT_QUERY = "{ environments { totalCount } }"


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


def _assert_unauthenticated(response: httpx.Response, message_part: str) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"errors"}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert message_part in error["message"]


def test_team_token_is_accepted(client: GraphQLClient, tenant: Tenant) -> None:
    data = client.data(ENVIRONMENT_COUNT_QUERY, token=tenant.team_token)

    assert data == {"environments": {"totalCount": 2}}


def test_environment_token_is_accepted(client: GraphQLClient, tenant: Tenant) -> None:
    data = client.data(ENVIRONMENT_COUNT_QUERY, token=tenant.production_token)

    assert data == {"environments": {"totalCount": 1}}


def test_missing_token_gets_401(client: GraphQLClient) -> None:
    response = client.post(ENVIRONMENT_COUNT_QUERY, token=None)

    _assert_unauthenticated(response, "Missing API token")


def test_unknown_token_gets_401(client: GraphQLClient) -> None:
    response = client.post(ENVIRONMENT_COUNT_QUERY, token="gapi_not-a-real-token")

    _assert_unauthenticated(response, "Unknown API token")


def test_expired_token_gets_401(client: GraphQLClient, seeder: Seeder) -> None:
    team = seeder.team()
    token = seeder.token(team, expires_at=utc_now() - timedelta(seconds=1))

    response = client.post(ENVIRONMENT_COUNT_QUERY, token=token)

    _assert_unauthenticated(response, "expired")


def test_token_expiring_later_is_accepted(
    client: GraphQLClient, seeder: Seeder
) -> None:
    team = seeder.team()
    seeder.environment(team)
    token = seeder.token(team, expires_at=utc_now() + timedelta(hours=1))

    data = client.data(ENVIRONMENT_COUNT_QUERY, token=token)

    assert data == {"environments": {"totalCount": 1}}


def test_revoked_token_gets_401(client: GraphQLClient, seeder: Seeder) -> None:
    team = seeder.team()
    token = seeder.token(team, revoked_at=utc_now() - timedelta(minutes=1))

    response = client.post(ENVIRONMENT_COUNT_QUERY, token=token)

    _assert_unauthenticated(response, "revoked")


@pytest.mark.parametrize(
    ("header", "message_part"),
    [
        pytest.param("Basic dXNlcjpwYXNz", "scheme 'Basic'", id="basic-scheme"),
        pytest.param("Bearer", "no token", id="bearer-without-token"),
        pytest.param("gapi_abc", "scheme 'gapi_abc'", id="no-scheme"),
    ],
)
def test_malformed_authorization_header_gets_401(
    live_server: LiveServer, header: str, message_part: str
) -> None:
    response = httpx.post(
        f"{live_server.url}/graphql",
        json={"query": ENVIRONMENT_COUNT_QUERY},
        headers={"authorization": header},
        trust_env=False,
    )

    _assert_unauthenticated(response, message_part)


def test_browser_gets_graphiql_without_token(live_server: LiveServer) -> None:
    response = httpx.get(
        f"{live_server.url}/graphql",
        headers={"accept": "text/html"},
        trust_env=False,
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def test_query_over_get_is_answered(live_server: LiveServer, tenant: Tenant) -> None:
    response = httpx.get(
        f"{live_server.url}/graphql",
        params={"query": ENVIRONMENT_COUNT_QUERY},
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"environments": {"totalCount": 2}}
    assert "errors" not in body


def test_query_over_get_needs_token(live_server: LiveServer) -> None:
    response = httpx.get(
        f"{live_server.url}/graphql",
        params={"query": ENVIRONMENT_COUNT_QUERY},
        trust_env=False,
    )

    _assert_unauthenticated(response, "Missing API token")


def test_response_carries_request_id(client: GraphQLClient, tenant: Tenant) -> None:
    first = client.post(ENVIRONMENT_COUNT_QUERY, token=tenant.team_token)
    second = client.post(ENVIRONMENT_COUNT_QUERY, token=tenant.team_token)

    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_body_that_is_not_json_gets_400(
    live_server: LiveServer, tenant: Tenant
) -> None:
    response = httpx.post(
        f"{live_server.url}/graphql",
        content=b'{"query": ',
        headers={
            "authorization": f"Bearer {tenant.team_token}",
            "content-type": "application/json",
        },
        trust_env=False,
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON" in error["message"]


def test_oversized_body_gets_413(live_server: LiveServer, tenant: Tenant) -> None:
    padding = "x" * (MAX_BODY_BYTES + 1)

    response = httpx.post(
        f"{live_server.url}/graphql",
        json={"query": ENVIRONMENT_COUNT_QUERY, "variables": {"padding": padding}},
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert str(MAX_BODY_BYTES) in error["message"]


def test_unsupported_method_gets_json_405(
    live_server: LiveServer, tenant: Tenant
) -> None:
    response = httpx.put(
        f"{live_server.url}/graphql",
        json={"query": ENVIRONMENT_COUNT_QUERY},
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
    )

    assert response.status_code == 405
    [error] = response.json()["errors"]
    assert "GET and POST" in error["message"]


def test_health_check_reports_ok(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/healthz", trust_env=False)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_integer_beyond_64_bits_is_encoded(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(tenant.staging, seeder.integration(tenant.team))
    account = seeder.account(install, last_action_result={"count": 2**70})
    query = """
    query ($id: ID!) { node(id: $id) { ... on IntegratedAccount { lastActionResult } } }
    """

    data = client.data(query, {"id": str(account.id)}, token=tenant.team_token)

    assert data["node"]["lastActionResult"] == {"count": 2**70}
