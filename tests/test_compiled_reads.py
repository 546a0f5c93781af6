"""Compiled list reads return exactly the bytes that the executor returns.

Two servers share one database: the session's server, where plain list
reads are compiled to one SQL statement after their first run, and a twin
with compiled reads turned off. Every case sends the same request to both
and compares the response bodies byte for byte. The statement log of the
compiled server shows which path served each request.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db import models
from db.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SuperQueryRegion,
)
from db.migrate import upgrade
from db.session import Database
from db.types import utc_now
from graphql_api.compiled.drivers import SQLiteReader
from graphql_api.compiled.reads import CompiledReads
from graphql_api.schema import schema
from graphql_api.settings import Settings
from graphql_api.tokens import generate_token, hash_token
from tests.cli_support import TEST_SECRET_KEY
from tests.conftest import (
    GraphQLClient,
    LiveServer,
    Seeder,
    Tenant,
    make_tenant,
    run_server,
)

# Tenant ids with the characters that GLOB and LIKE treat as wildcards.
TENANT_IDS = ("acme", "a*b", "x%y", "under_score", "Case", "[set]", "q?", "back\\slash")
ACCOUNTS = 64
STATUSES = list(IntegratedAccountStatus)
REGIONS = list(Region)
METHODS = [None, *AuthenticationMethod]
SUPER_QUERY = [None, None, *SuperQueryRegion]


@pytest.fixture(scope="module")
def twin(live_server: LiveServer) -> Iterator[GraphQLClient]:
    """A client of a second server on the same database, without compiled reads."""
    settings = Settings(
        database_url=live_server.database_url,
        secret_key=TEST_SECRET_KEY,
        compiled_reads=False,
    )
    with run_server(live_server.database_url, settings) as server:
        client = GraphQLClient(server.url)
        yield client
        client.close()


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    """A team with 64 varied accounts, some sharing a creation time."""
    tenant = make_tenant(seeder)
    integrations = [
        seeder.integration(tenant.team, "crm-app", category="crm"),
        seeder.integration(tenant.team, "chat*app", category="messaging", is_beta=True),
        seeder.integration(tenant.team, "ticket_app", category="ticketing"),
    ]
    installs = [
        seeder.install(environment, integration)
        for environment in (tenant.production, tenant.staging)
        for integration in integrations
    ]
    start = utc_now() - timedelta(days=30)
    rows = []
    for n in range(ACCOUNTS):
        # Rows 4k+2 and 4k+3 share their creation time (unless one of them
        # is a multiple of 5 and gets 7 µs more), so that ties are broken by id.
        created = start + timedelta(
            hours=n - n % 4 // 3, microseconds=0 if n % 5 else 7
        )
        rows.append(
            seeder.account_row(
                installs[n % len(installs)],
                tenant_id=f"{TENANT_IDS[n % len(TENANT_IDS)]}-{n % 7}",
                status=STATUSES[n % len(STATUSES)].value,
                region=REGIONS[n % len(REGIONS)].value,
                authentication_method=_value(METHODS[n % len(METHODS)]),
                super_query=_value(SUPER_QUERY[n % len(SUPER_QUERY)]),
                is_sandbox=n % 3 == 0,
                last_error=None if n % 2 else f"error {n}: upstream said 401",
                credentials_expire_at=None if n % 4 else created + timedelta(days=1),
                last_validated_at=None if n % 3 else created + timedelta(minutes=5),
                created_at=created,
                updated_at=created + timedelta(minutes=n % 9),
            )
        )
    seeder.add(*rows)
    return tenant


@pytest.fixture(scope="module")
def other(seeder: Seeder) -> Tenant:
    """Another team with accounts of its own."""
    other = make_tenant(seeder)
    install = seeder.install(other.production, seeder.integration(other.team))
    seeder.add(*(seeder.account_row(install, tenant_id=f"other-{n}") for n in range(5)))
    return other


def _value(member: Any) -> Any:
    return None if member is None else member.value


def _post(
    client: GraphQLClient, query: str, variables: dict[str, Any] | None, token: str
) -> httpx.Response:
    return client.post(query, variables, token=token)


def _compare(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    query: str,
    variables: dict[str, Any] | None,
    token: str,
) -> tuple[httpx.Response, bool]:
    """Send a request to both servers and compare their responses.

    Returns the compiled server's response and whether the compiled path
    served it. The first request of a text runs through the executor and plans it, so
    the compared request is the second one.
    """
    _post(client, query, variables, token)
    with live_server.statements.capture() as statements:
        compiled = _post(client, query, variables, token)
    executed = _post(twin, query, variables, token)
    assert compiled.status_code == executed.status_code
    assert compiled.content == executed.content
    served = bool(statements) and not any(
        "api_token.token_hash" in s for s in statements
    )
    return compiled, served


PAGE = """
query Page($first: Int, $after: String, $filter: IntegratedAccountFilter,
           $orderBy: [IntegratedAccountOrder!]) {
  integratedAccounts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    nodes {
      id tenantId status isSandbox authenticationMethod region superQuery
      lastError integrationId environmentId environmentIntegrationId
      credentialsExpireAt lastRefreshedAt lastValidatedAt createdAt updatedAt
      integration { id name category isBeta sharing version teamId createdAt }
      environment { id name createdAt updatedAt }
    }
    pageInfo { startCursor endCursor hasNextPage hasPreviousPage }
  }
}
"""

SHAPES = """
query {
  accounts: integratedAccounts(first: 7, orderBy: [{field: TENANT_ID}]) {
    __typename
    edges {
      __typename
      cursor
      node { __typename ...Account app: integration { __typename label: name } }
    }
    info: pageInfo { __typename hasNextPage end: endCursor }
  }
}
fragment Account on IntegratedAccount {
  key: id
  ... on IntegratedAccount { status }
  ... { tenantId }
}
"""


@pytest.mark.parametrize(
    ("variables", "compiled"),
    [
        pytest.param({}, True, id="defaults"),
        pytest.param({"first": 100}, True, id="page-of-100"),
        pytest.param({"first": 1}, True, id="page-of-1"),
        pytest.param(
            {"filter": {"status": {"eq": "NEEDS_REAUTH"}}}, True, id="status-eq"
        ),
        pytest.param(
            {"filter": {"status": {"notIn": ["ACTIVE", "CONNECTING"]}}},
            True,
            id="status-not-in",
        ),
        pytest.param(
            {"filter": {"authenticationMethod": {"ne": "API_KEY"}}},
            True,
            id="nullable-enum-ne-keeps-nulls",
        ),
        pytest.param({"filter": {"superQuery": {"in": ["APAC"]}}}, True, id="enum-in"),
        pytest.param({"filter": {"superQuery": {"in": []}}}, False, id="empty-in"),
        pytest.param(
            {"filter": {"tenantId": {"startsWith": "a*"}}}, True, id="glob-star"
        ),
        pytest.param(
            {"filter": {"tenantId": {"contains": "%"}}}, True, id="like-percent"
        ),
        pytest.param(
            {"filter": {"tenantId": {"contains": "_"}}}, True, id="like-underscore"
        ),
        pytest.param(
            {"filter": {"tenantId": {"startsWith": "[set"}}}, True, id="glob-bracket"
        ),
        pytest.param(
            {"filter": {"tenantId": {"contains": "\\"}}}, True, id="backslash"
        ),
        pytest.param(
            {"filter": {"tenantId": {"startsWith": "case"}}}, False, id="case-sensitive"
        ),
        pytest.param(
            {"filter": {"tenantId": {"in": ["acme-0", "q?-3"], "ne": "acme-0"}}},
            True,
            id="string-in-and-ne",
        ),
        pytest.param(
            {"filter": {"integrationName": {"eq": "chat*app"}}},
            True,
            id="integration-name",
        ),
        pytest.param(
            {"filter": {"integrationCategory": {"notIn": ["crm"]}}},
            True,
            id="integration-category",
        ),
        pytest.param(
            {"filter": {"isSandbox": True, "region": {"ne": "WNAM"}}},
            True,
            id="boolean-and-region",
        ),
        pytest.param(
            {
                "filter": {
                    "or": [
                        {"status": {"eq": "ACTIVE"}},
                        {"not": {"tenantId": {"startsWith": "acme"}}},
                    ],
                    "and": [{"isSandbox": False}],
                }
            },
            True,
            id="or-not-and",
        ),
        pytest.param({"filter": {"or": []}}, False, id="empty-or-matches-nothing"),
        pytest.param({"filter": {"and": []}}, True, id="empty-and-matches-all"),
        pytest.param(
            {
                "orderBy": [
                    {"field": "STATUS"},
                    {"field": "UPDATED_AT", "direction": "DESC"},
                ]
            },
            True,
            id="mixed-directions",
        ),
        pytest.param(
            {"orderBy": [{"field": "CREATED_AT", "direction": "ASC"}]},
            True,
            id="oldest-first",
        ),
        pytest.param({"first": 101}, False, id="page-too-large"),
        pytest.param({"first": 0}, False, id="empty-page"),
        pytest.param({"first": "ten"}, False, id="variable-of-wrong-type"),
        pytest.param({"after": "not-a-cursor"}, False, id="malformed-cursor"),
        pytest.param(
            {"filter": {"tenantId": {"eq": None}}}, False, id="null-string-operator"
        ),
        pytest.param({"filter": {"id": {"eq": "42"}}}, False, id="malformed-id"),
        pytest.param(
            {"filter": {"createdAt": {"gte": "2024-01-01T00:00:00"}}},
            False,
            id="timestamp-without-offset",
        ),
        pytest.param(
            {"orderBy": [{"field": "STATUS"}, {"field": "STATUS"}]},
            False,
            id="repeated-order-field",
        ),
    ],
)
def test_page_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    variables: dict[str, Any],
    compiled: bool,
) -> None:
    _response, served = _compare(
        client, twin, live_server, PAGE, variables, tenant.team_token
    )

    assert served is compiled


def test_aliases_fragments_and_typenames_match_executor(
    client: GraphQLClient, twin: GraphQLClient, live_server: LiveServer, tenant: Tenant
) -> None:
    response, served = _compare(
        client, twin, live_server, SHAPES, None, tenant.team_token
    )

    assert served
    edges = response.json()["data"]["accounts"]["edges"]
    assert sorted(edges[0]["node"]) == [
        "__typename",
        "app",
        "key",
        "status",
        "tenantId",
    ]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(None, id="newest-first"),
        pytest.param([{"field": "TENANT_ID", "direction": "DESC"}], id="tenant-desc"),
        pytest.param(
            [{"field": "STATUS"}, {"field": "CREATED_AT", "direction": "DESC"}],
            id="mixed",
        ),
    ],
)
def test_walking_every_page_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    order: list[dict[str, str]] | None,
) -> None:
    after = None
    seen: list[str] = []
    for _page in range(10):
        variables = {"first": 9, "after": after, "orderBy": order}
        response, served = _compare(
            client, twin, live_server, PAGE, variables, tenant.team_token
        )
        assert served
        page = response.json()["data"]["integratedAccounts"]
        seen.extend(node["id"] for node in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert len(seen) == len(set(seen)) == ACCOUNTS


BACKWARD = """
query Back(
  $last: Int, $before: String, $after: String, $orderBy: [IntegratedAccountOrder!]
) {
  integratedAccounts(last: $last, before: $before, after: $after, orderBy: $orderBy) {
    edges { cursor node { id tenantId } }
    pageInfo { startCursor endCursor hasNextPage hasPreviousPage }
  }
}
"""


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(None, id="newest-first"),
        pytest.param(
            [{"field": "STATUS", "direction": "DESC"}, {"field": "UPDATED_AT"}],
            id="mixed",
        ),
    ],
)
def test_walking_backward_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    order: list[dict[str, str]] | None,
) -> None:
    before = None
    seen: list[str] = []
    for _page in range(10):
        variables = {"last": 9, "before": before, "orderBy": order}
        response, served = _compare(
            client, twin, live_server, BACKWARD, variables, tenant.team_token
        )
        assert served
        page = response.json()["data"]["integratedAccounts"]
        seen[:0] = [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]

    assert len(seen) == len(set(seen)) == ACCOUNTS


def test_window_between_two_cursors_matches_executor(
    client: GraphQLClient, twin: GraphQLClient, live_server: LiveServer, tenant: Tenant
) -> None:
    page = client.data(
        "query { integratedAccounts(first: 30) { edges { cursor } } }",
        token=tenant.team_token,
    )["integratedAccounts"]["edges"]
    variables = {"after": page[3]["cursor"], "before": page[20]["cursor"], "last": 5}

    response, served = _compare(
        client, twin, live_server, BACKWARD, variables, tenant.team_token
    )

    assert served
    info = response.json()["data"]["integratedAccounts"]["pageInfo"]
    assert info["hasNextPage"] is True
    assert info["hasPreviousPage"] is True


def test_environment_token_reads_its_environment_only(
    client: GraphQLClient, twin: GraphQLClient, live_server: LiveServer, tenant: Tenant
) -> None:
    response, served = _compare(
        client, twin, live_server, PAGE, {"first": 100}, tenant.production_token
    )

    assert served
    nodes = response.json()["data"]["integratedAccounts"]["nodes"]
    # Installs alternate three production, three staging.
    assert len(nodes) == sum(1 for n in range(ACCOUNTS) if n % 6 < 3)
    assert {node["environment"]["name"] for node in nodes} == {"production"}


def test_other_team_reads_own_rows(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    other: Tenant,
) -> None:
    _post(client, PAGE, {"first": 100}, tenant.team_token)
    response, served = _compare(
        client, twin, live_server, PAGE, {"first": 100}, other.team_token
    )

    assert served
    tenants = {
        node["tenantId"]
        for node in response.json()["data"]["integratedAccounts"]["nodes"]
    }
    assert tenants == {f"other-{n}" for n in range(5)}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"revoked_at": timedelta(seconds=-1)}, id="revoked"),
        pytest.param({"expires_at": timedelta(seconds=-1)}, id="expired"),
    ],
)
def test_dead_token_rejected_after_planning(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    change: dict[str, timedelta],
) -> None:
    token = generate_token()
    row = models.ApiToken(team_id=tenant.team.id, token_hash=hash_token(token))
    seeder.add(row)
    assert _post(client, PAGE, {"first": 3}, token).status_code == 200
    assert _post(client, PAGE, {"first": 3}, token).status_code == 200
    for name, delta in change.items():
        setattr(row, name, utc_now() + delta)
    seeder.add(row)

    response = _post(client, PAGE, {"first": 3}, token)

    assert response.status_code == 401
    assert "data" not in response.json()


def test_new_rows_are_read_at_once(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    query = """
    query ($filter: IntegratedAccountFilter) {
      integratedAccounts(filter: $filter) { nodes { tenantId } }
    }
    """
    variables = {"filter": {"tenantId": {"startsWith": "fresh-"}}}
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    seeder.account(install, tenant_id="fresh-1")
    first = client.data(query, variables, token=tenant.team_token)
    seeder.account(install, tenant_id="fresh-2")

    second = client.data(query, variables, token=tenant.team_token)

    assert [n["tenantId"] for n in first["integratedAccounts"]["nodes"]] == ["fresh-1"]
    assert [n["tenantId"] for n in second["integratedAccounts"]["nodes"]] == [
        "fresh-2",
        "fresh-1",
    ]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(
            "{ integratedAccounts { nodes { id context } } }", id="resolver-field"
        ),
        pytest.param(
            "{ integratedAccounts { nodes { id @include(if: true) } } }",
            id="directive",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2, last: 2) { nodes { id } } }",
            id="first-and-last",
        ),
        pytest.param(
            "{ integratedAccounts { nodes { id } } environments { nodes { id } } }",
            id="two-root-fields",
        ),
        pytest.param(
            "{ integratedAccounts { nodes { id } nodes { tenantId } } }",
            id="repeated-response-key",
        ),
    ],
)
def test_other_documents_run_through_the_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    query: str,
) -> None:
    _response, served = _compare(
        client, twin, live_server, query, None, tenant.team_token
    )

    assert not served


_FILTER_LEAVES = st.one_of(
    st.fixed_dictionaries(
        {
            "status": st.fixed_dictionaries(
                {
                    "in": st.lists(
                        st.sampled_from([s.name for s in IntegratedAccountStatus]),
                        max_size=3,
                    )
                }
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "superQuery": st.fixed_dictionaries(
                {"ne": st.sampled_from([s.name for s in SuperQueryRegion])}
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "tenantId": st.fixed_dictionaries(
                {
                    "contains": st.text(
                        alphabet=string.ascii_letters + "*%_?[\\-", max_size=3
                    )
                }
            )
        }
    ),
    st.fixed_dictionaries({"isSandbox": st.booleans()}),
    st.fixed_dictionaries(
        {
            "integrationCategory": st.fixed_dictionaries(
                {"eq": st.sampled_from(["crm", "messaging"])}
            )
        }
    ),
)
_FILTERS = st.recursive(
    _FILTER_LEAVES,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"or": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"and": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(condition=_FILTERS, newest=st.booleans())
def test_generated_filters_match_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    condition: dict[str, Any],
    newest: bool,
) -> None:
    order = [{"field": "CREATED_AT", "direction": "DESC" if newest else "ASC"}]
    _compare(
        client,
        twin,
        live_server,
        PAGE,
        {"first": 20, "filter": condition, "orderBy": order},
        tenant.team_token,
    )


async def test_failing_reader_pauses_compiled_reads(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    database = Database(url)
    statements: list[str] = []
    database.statement_observers.append(lambda sql, _parameters: statements.append(sql))
    compiled = CompiledReads(database, schema._schema, pool_size=1)
    # A folder is no database file: every connection attempt fails.
    compiled.reader = SQLiteReader(str(tmp_path), 1)
    query = "{ integratedAccounts { nodes { id } } }"
    compiled.learn(query, None)
    try:
        first = await compiled.respond(query, None, None, "Bearer gapi_unknown")
        second = await compiled.respond(query, None, None, "Bearer gapi_unknown")
    finally:
        # aiosqlite stops the failed connection's thread through this loop.
        await asyncio.sleep(0.2)
        await database.dispose()

    assert first is None
    assert second is None
    assert len(statements) == 1
