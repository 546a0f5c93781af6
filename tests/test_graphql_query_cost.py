"""The number of SQL statements per request does not grow with the page size.

A plain list read is planned after its first run and then served by one
compiled statement (see `graphql_api.compiled`). A document with a field
that needs a resolver, such as `context`, runs through the executor and its
dataloaders. Both costs are measured after a first request of the same text.
"""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient, LiveServer, Seeder, Tenant, make_tenant

PAGE_WITH_NESTED_OBJECTS = """
query ($first: Int!) {
  integratedAccounts(first: $first) {
    edges {
      cursor
      node {
        id
        tenantId
        integration { id name category }
        environment { id name }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# `context` has a resolver, so this document always runs through the executor.
EXECUTED_PAGE = """
query ($first: Int!) {
  integratedAccounts(first: $first) {
    nodes {
      id
      context
      integration { id name category }
      environment { id name }
    }
  }
}
"""

PAGE_WITH_TOTAL_COUNT = """
query ($first: Int!) {
  integratedAccounts(first: $first) {
    totalCount
    nodes { id integration { name } environment { name } }
  }
}
"""


@pytest.fixture(scope="module")
def populated(seeder: Seeder) -> Tenant:
    tenant = make_tenant(seeder)
    integrations = [seeder.integration(tenant.team, f"cost-{n}") for n in range(4)]
    installs = [
        seeder.install(environment, integration)
        for environment in (tenant.production, tenant.staging)
        for integration in integrations
    ]
    rows = [seeder.account_row(installs[n % len(installs)]) for n in range(120)]
    seeder.add(*rows)
    return tenant


def _selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def _statements_for(
    client: GraphQLClient,
    live_server: LiveServer,
    token: str,
    query: str,
    first: int,
) -> list[str]:
    # The first request of a text runs through the executor and plans it.
    client.data(query, {"first": first}, token=token)
    with live_server.statements.capture() as statements:
        data = client.data(query, {"first": first}, token=token)
    assert (
        len(
            data["integratedAccounts"].get("edges")
            or data["integratedAccounts"]["nodes"]
        )
        == first
    )
    return statements


def test_page_cost_independent_of_size(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    small = _statements_for(
        client, live_server, populated.team_token, PAGE_WITH_NESTED_OBJECTS, 5
    )
    large = _statements_for(
        client, live_server, populated.team_token, PAGE_WITH_NESTED_OBJECTS, 100
    )

    assert len(large) == len(small)
    # One statement: the page, joined with integrations and environments, with
    # the token checked in its scope subquery.
    assert len(_selects(large)) == 1


def test_executed_page_cost_independent_of_size(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    small = _statements_for(client, live_server, populated.team_token, EXECUTED_PAGE, 5)
    large = _statements_for(
        client, live_server, populated.team_token, EXECUTED_PAGE, 100
    )

    assert len(large) == len(small)
    # The token lookup, the page, one batch of integrations, one of environments
    # and one of installs (for the context's redaction rules).
    assert len(_selects(large)) == 5


def test_total_count_adds_one_count_query(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    statements = _statements_for(
        client, live_server, populated.team_token, PAGE_WITH_TOTAL_COUNT, 100
    )

    selects = _selects(statements)
    assert len(selects) == 2
    assert sum("count(" in s.lower() for s in selects) == 1


def test_total_count_not_selected_runs_no_count(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    statements = _statements_for(
        client, live_server, populated.team_token, PAGE_WITH_NESTED_OBJECTS, 100
    )

    assert not any("count(" in s.lower() for s in statements)


def test_page_query_orders_by_indexed_keyset(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    statements = _statements_for(
        client, live_server, populated.team_token, PAGE_WITH_NESTED_OBJECTS, 5
    )

    [page_query] = [s for s in _selects(statements) if "FROM integrated_account" in s]
    assert "ORDER BY a.created_at DESC, a.id DESC LIMIT" in page_query


def test_executed_page_query_orders_by_indexed_keyset(
    client: GraphQLClient, live_server: LiveServer, populated: Tenant
) -> None:
    statements = _statements_for(
        client, live_server, populated.team_token, EXECUTED_PAGE, 5
    )

    [page_query] = [s for s in _selects(statements) if "FROM integrated_account" in s]
    assert (
        "ORDER BY integrated_account.created_at DESC, integrated_account.id DESC"
        in page_query
    )
    assert "LIMIT" in page_query
