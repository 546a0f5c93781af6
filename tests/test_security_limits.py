"""Query limits: each rejects the document just over it and accepts the one at it.

One server runs with small limits so that the boundaries are cheap to
reach; the session server checks that the defaults accept real queries.
Rejected documents run no SQL statement besides the token lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import get_introspection_query

from tests.conftest import GraphQLClient, LiveServer, Seeder, Tenant, make_tenant
from tests.security.servers import limited_server

LIMITS = {
    "max_query_depth": 5,
    "max_aliases": 3,
    "max_tokens": 60,
    "max_query_cost": 50,
}


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("limits") / "api.db"
    with limited_server(path, **LIMITS) as server:
        yield server


@pytest.fixture(scope="module")
def tight_client(tight_server: LiveServer) -> Iterator[GraphQLClient]:
    client = GraphQLClient(tight_server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def tight_tenant(tight_server: LiveServer) -> Iterator[Tenant]:
    seeder = Seeder(tight_server.database_url)
    try:
        yield make_tenant(seeder)
    finally:
        seeder.close()


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


def _post(
    client: GraphQLClient,
    tenant: Tenant,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response = client.post(query, variables, token=tenant.team_token)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert "data" not in body or body["data"] is None
    [error] = body["errors"]
    return error


def _tokens(count: int) -> str:
    # "{", "}" and count names: count + 2 tokens.
    return "{ " + " ".join(["__typename"] * count) + " }"


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


# Depth counts fields from the root field to a leaf: environments(1),
# nodes(2), integratedAccounts(3), nodes(4), id(5).
DEPTH_5 = (
    "{ environments(first: 1) { nodes { integratedAccounts(first: 1) "
    "{ nodes { id } } } } }"
)
DEPTH_6 = (
    "{ environments(first: 1) { nodes { integratedAccounts(first: 1) "
    "{ nodes { environment { id } } } } } }"
)


@pytest.mark.parametrize(
    ("accepted", "rejected", "message"),
    [
        pytest.param(DEPTH_5, DEPTH_6, "exceeds maximum operation depth 5", id="depth"),
        pytest.param(_aliases(3), _aliases(4), "4 aliases", id="aliases"),
        pytest.param(_tokens(58), _tokens(59), "more than 60 tokens", id="tokens"),
        pytest.param(
            "{ integratedAccounts(first: 50) { nodes { id } } }",
            "{ integratedAccounts(first: 51) { nodes { id } } }",
            "may return 51 nodes",
            id="cost-one-connection",
        ),
        pytest.param(
            "{ environments(first: 5) { nodes { integratedAccounts(first: 9) "
            "{ totalCount } } } }",
            "{ environments(first: 5) { nodes { integratedAccounts(first: 10) "
            "{ totalCount } } } }",
            "may return 55 nodes",
            id="cost-nested",
        ),
        pytest.param(
            "{ nodes(ids: []) { id } integratedAccounts(first: 50) { totalCount } }",
            '{ nodes(ids: ["00000000-0000-0000-0000-000000000000"]) { id } '
            "integratedAccounts(first: 50) { totalCount } }",
            "may return 51 nodes",
            id="cost-node-ids",
        ),
    ],
)
def test_limit_rejects_just_over(
    tight_client: GraphQLClient,
    tight_tenant: Tenant,
    accepted: str,
    rejected: str,
    message: str,
) -> None:
    ok = _post(tight_client, tight_tenant, accepted)
    error = _only_error(_post(tight_client, tight_tenant, rejected))

    assert "errors" not in ok
    assert message in error["message"]
    assert error["extensions"]["code"] in (
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    )


def test_cost_counts_variables(
    tight_client: GraphQLClient, tight_tenant: Tenant
) -> None:
    query = "query ($n: Int) { integratedAccounts(first: $n) { totalCount } }"

    ok = _post(tight_client, tight_tenant, query, {"n": 50})
    error = _only_error(_post(tight_client, tight_tenant, query, {"n": 51}))

    assert "errors" not in ok
    assert "may return 51 nodes" in error["message"]


def test_cost_without_first_uses_default_page(
    tight_client: GraphQLClient, tight_tenant: Tenant
) -> None:
    body = _post(tight_client, tight_tenant, "{ environments { totalCount } }")

    assert body["extensions"]["cost"] == {"requestedNodes": 25, "maxNodes": 50}


def test_cost_is_reported_in_extensions(
    tight_client: GraphQLClient, tight_tenant: Tenant
) -> None:
    query = (
        "{ environments(first: 2) { nodes { integratedAccounts(first: 3) "
        "{ nodes { id } } } } }"
    )

    body = _post(tight_client, tight_tenant, query)

    assert "errors" not in body
    assert body["extensions"]["cost"] == {"requestedNodes": 8, "maxNodes": 50}


def test_rejected_query_runs_no_sql(
    tight_client: GraphQLClient, tight_server: LiveServer, tight_tenant: Tenant
) -> None:
    with tight_server.statements.capture() as statements:
        body = _post(tight_client, tight_tenant, DEPTH_6)

    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert body["errors"]
    assert len(selects) == 1
    assert "FROM api_token" in selects[0]


def test_accepted_query_runs_sql(
    tight_client: GraphQLClient, tight_server: LiveServer, tight_tenant: Tenant
) -> None:
    with tight_server.statements.capture() as statements:
        body = _post(tight_client, tight_tenant, DEPTH_5)

    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert "errors" not in body
    assert len(selects) > 1


def test_default_limits_accept_graphiql_introspection(
    client: GraphQLClient, tenant: Tenant
) -> None:
    body = _post(client, tenant, get_introspection_query(descriptions=True))

    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_nested_introspection_lists_are_rejected(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = (
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } "
        "} } }"
    )

    error = _only_error(_post(client, tenant, query))

    # graphql-core 3.3 has its own rule, which runs first. This server's rule
    # reports "nests 4 list fields" when graphql-core's does not run.
    assert "introspection" in error["message"].lower()
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_default_limits_accept_two_nested_pages(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = (
        "{ environments(first: 50) { nodes { integratedAccounts(first: 100) "
        "{ nodes { id } } } } }"
    )

    body = _post(client, tenant, query)

    assert "errors" not in body
    assert body["extensions"]["cost"]["requestedNodes"] == 5050


def test_default_limits_reject_three_nested_pages(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = (
        "{ integrations(first: 100) { nodes { environmentIntegrations(first: 100) "
        "{ nodes { integratedAccounts(first: 100) { totalCount } } } } } }"
    )

    error = _only_error(_post(client, tenant, query))

    assert "may return 1010100 nodes" in error["message"]


def test_page_over_maximum_gets_resolver_error(
    client: GraphQLClient, tenant: Tenant
) -> None:
    body = _post(client, tenant, "{ integratedAccounts(first: 5000) { totalCount } }")

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 100" in error["message"]


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path: Path = tmp_path_factory.mktemp("closed") / "api.db"
    with limited_server(path, introspection=False) as server:
        yield server


@pytest.fixture(scope="module")
def closed(closed_server: LiveServer) -> Iterator[tuple[GraphQLClient, Tenant]]:
    seeder = Seeder(closed_server.database_url)
    client = GraphQLClient(closed_server.url)
    try:
        yield client, make_tenant(seeder)
    finally:
        client.close()
        seeder.close()


def test_introspection_off_rejects_schema_query(
    closed: tuple[GraphQLClient, Tenant],
) -> None:
    client, tenant = closed

    body = _post(client, tenant, "{ __schema { types { name } } }")

    assert "data" not in body
    assert body["errors"]
    for error in body["errors"]:
        assert "introspection has been disabled" in error["message"]


def test_introspection_off_keeps_typename(
    closed: tuple[GraphQLClient, Tenant],
) -> None:
    client, tenant = closed

    body = _post(client, tenant, "{ __typename }")

    assert body["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ environmentz { totalCount } }", id="field"),
        pytest.param(
            "{ integratedAccounts(filter: {status: {eq: ACTIVEE}}) { totalCount } }",
            id="enum-value",
        ),
        pytest.param("{ integratedAccounts(firstt: 1) { totalCount } }", id="argument"),
    ],
)
def test_suggestions_follow_introspection(
    client: GraphQLClient,
    tenant: Tenant,
    closed: tuple[GraphQLClient, Tenant],
    query: str,
) -> None:
    closed_client, closed_tenant = closed

    open_error = _only_error(_post(client, tenant, query))
    closed_error = _only_error(_post(closed_client, closed_tenant, query))

    assert "Did you mean" in open_error["message"]
    assert "Did you mean" not in closed_error["message"]
    assert closed_error["extensions"]["code"] == open_error["extensions"]["code"]
