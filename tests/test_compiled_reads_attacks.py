"""Hostile and careless requests get the same response on both read paths.

Two servers share one database: the session's server, which compiles plain
`integratedAccounts` reads after their first run, and a twin with compiled
reads turned off. Each case sends a request twice to the compiled server
(the first run plans the text) and once to the twin, and compares status,
headers and body byte for byte. The statement log shows which path served
the compared request.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import make_url

from db import models
from db.enums import IntegratedAccountStatus
from db.types import utc_now
from graphql_api.compiled.drivers import open_reader
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

# Response headers that differ between any two responses, or between two
# servers, because each server counts its own rate limit windows.
VOLATILE_HEADERS = frozenset(
    {"date", "x-request-id", "ratelimit-remaining", "ratelimit-reset"}
)

# Internal errors name the request id, which differs between any two requests.
REQUEST_ID = re.compile(rb"[0-9a-f]{32}")

PAGE = """
query Page($first: Int, $after: String, $filter: IntegratedAccountFilter,
           $orderBy: [IntegratedAccountOrder!]) {
  integratedAccounts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    nodes {
      id tenantId status createdAt updatedAt lastError
      integration { name category }
      environment { name }
    }
    pageInfo { startCursor endCursor hasNextPage hasPreviousPage }
  }
}
"""

TENANT_IDS = (
    "plain",
    "ünïcødé-☃",
    "emoji-😀",
    "control\x01inside",
    "tab\tand space",
    "back\\slash",
    "pct%und_",
    "star*q?[b]",
    "Upper",
    "x" * 480,
    "'; DROP TABLE integrated_account; --",
    'quote"double',
)


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
    """A team whose accounts have tenant ids with awkward characters."""
    tenant = make_tenant(seeder)
    integration = seeder.integration(tenant.team, "odd_app%*", category="crm")
    installs = [
        seeder.install(environment, integration)
        for environment in (tenant.production, tenant.staging)
    ]
    start = utc_now() - timedelta(days=3)
    rows = [
        seeder.account_row(
            installs[n % 2],
            tenant_id=tenant_id,
            status=list(IntegratedAccountStatus)[n % 5].value,
            last_error=tenant_id if n % 3 == 0 else None,
            created_at=start + timedelta(minutes=n, microseconds=n * 7),
            updated_at=start + timedelta(minutes=n),
        )
        for n, tenant_id in enumerate(TENANT_IDS)
    ]
    seeder.add(*rows)
    tenant.extra["accounts"] = rows
    return tenant


@pytest.fixture(scope="module")
def other(seeder: Seeder) -> Tenant:
    """Another team with accounts of its own."""
    other = make_tenant(seeder)
    install = seeder.install(other.production, seeder.integration(other.team))
    seeder.add(
        *(seeder.account_row(install, tenant_id=f"secret-{n}") for n in range(3))
    )
    return other


def _send(
    client: GraphQLClient,
    query: str,
    variables: dict[str, Any] | None,
    token: str | None,
    *,
    method: str = "POST",
    operation_name: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    if method == "GET":
        params = {"query": query}
        if variables is not None:
            params["variables"] = orjson.dumps(variables).decode()
        if operation_name is not None:
            params["operationName"] = operation_name
        sent.setdefault("accept", "application/json")
        return client.http.get("/graphql", params=params, headers=sent)
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return client.http.post("/graphql", json=body, headers=sent)


def _stable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted(
        (name, value)
        for name, value in response.headers.items()
        if name not in VOLATILE_HEADERS
    )


def _stable_body(response: httpx.Response) -> bytes:
    return REQUEST_ID.sub(b"<request-id>", response.content)


def _compare(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    query: str,
    variables: dict[str, Any] | None,
    token: str | None,
    **options: Any,
) -> tuple[httpx.Response, bool]:
    """Send a request to both servers and return it with whether it compiled."""
    _send(client, query, variables, token, **options)
    with live_server.statements.capture() as statements:
        compiled = _send(client, query, variables, token, **options)
    executed = _send(twin, query, variables, token, **options)
    assert compiled.status_code == executed.status_code
    assert _stable_body(compiled) == _stable_body(executed)
    assert _stable_headers(compiled) == _stable_headers(executed)
    served = bool(statements) and not any(
        "api_token.token_hash" in s for s in statements
    )
    return compiled, served


def _learn(client: GraphQLClient, query: str, token: str, **options: Any) -> None:
    """Run a query text once without errors, so that the server plans it."""
    response = _send(client, query, None, token, **options)
    assert response.status_code == 200
    assert "errors" not in response.json()


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param({"tenantId": {"eq": "nul\x00inside"}}, id="nul-eq"),
        pytest.param({"tenantId": {"eq": "control\x01inside"}}, id="control-eq"),
        pytest.param({"tenantId": {"contains": "\x00"}}, id="nul-contains"),
        pytest.param({"tenantId": {"eq": "ünïcødé-☃"}}, id="unicode-eq"),
        pytest.param({"tenantId": {"startsWith": "emoji-😀"}}, id="emoji-prefix"),
        pytest.param({"tenantId": {"contains": "x" * 400}}, id="long-contains"),
        pytest.param({"tenantId": {"eq": "y" * 100_000}}, id="very-long-eq"),
        pytest.param({"tenantId": {"contains": "y" * 60_000}}, id="very-long-contains"),
        pytest.param(
            {"tenantId": {"startsWith": "*" * 20_000}}, id="very-long-escaped-prefix"
        ),
        pytest.param({"tenantId": {"contains": "*"}}, id="glob-star"),
        pytest.param({"tenantId": {"contains": "?[b]"}}, id="glob-class"),
        pytest.param({"tenantId": {"contains": "%und_"}}, id="like-wildcards"),
        pytest.param({"tenantId": {"startsWith": "back\\"}}, id="backslash"),
        pytest.param({"tenantId": {"contains": "\\\\"}}, id="double-backslash"),
        pytest.param({"tenantId": {"startsWith": "upper"}}, id="case"),
        pytest.param(
            {"tenantId": {"eq": "'; DROP TABLE integrated_account; --"}},
            id="quote-injection",
        ),
        pytest.param({"tenantId": {"in": ["plain", "Upper", "nope"]}}, id="in"),
        pytest.param({"tenantId": {"notIn": ["plain"] * 500}}, id="not-in-500"),
        pytest.param({"tenantId": {"notIn": ["plain"] * 501}}, id="not-in-501"),
        pytest.param({"integrationName": {"contains": "%*"}}, id="through-glob"),
        pytest.param({"integrationCategory": {"ne": "crm"}}, id="through-ne-empty"),
        pytest.param({"not": {"integrationCategory": {"ne": "x"}}}, id="through-not"),
        pytest.param({"createdAt": {"lt": "0999-01-01T00:00:00Z"}}, id="year-999"),
        pytest.param({"createdAt": {"gt": "0001-01-01T00:00:00Z"}}, id="year-1"),
        pytest.param(
            {"createdAt": {"lt": "0001-01-01T00:00:00+01:00"}}, id="year-1-offset"
        ),
        pytest.param(
            {"createdAt": {"lt": "9999-12-31T23:59:59.999999-05:00"}},
            id="year-9999-offset",
        ),
        pytest.param(
            {"createdAt": {"gte": "2000-01-01T05:30:00.123456+05:30"}},
            id="offset-microseconds",
        ),
        pytest.param({"createdAt": {"lt": "2999-01-01T00:00:00.5Z"}}, id="fraction"),
        pytest.param({"createdAt": {"gt": "2000-02-30T00:00:00Z"}}, id="bad-date"),
        pytest.param({"createdAt": {"gt": 12}}, id="number-date"),
        pytest.param({"id": {"in": []}}, id="empty-id-in"),
        pytest.param({"status": {"eq": "active"}}, id="lower-case-enum"),
        pytest.param({"isSandbox": None}, id="null-boolean"),
        pytest.param({"and": None, "or": None, "not": None}, id="null-combinators"),
        pytest.param({"id": {"eq": None, "in": None}}, id="null-id-operators"),
        pytest.param({"status": {"eq": None, "in": None}}, id="null-enum-operators"),
        pytest.param({"createdAt": {"eq": None, "gt": None}}, id="null-time-operators"),
        pytest.param({"not": {}}, id="not-empty"),
        pytest.param({"or": [{}]}, id="or-of-empty"),
    ],
)
def test_odd_filter_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    condition: dict[str, Any],
) -> None:
    _learn(client, PAGE, tenant.team_token)

    _compare(
        client,
        twin,
        live_server,
        PAGE,
        {"filter": condition, "first": 50},
        tenant.team_token,
    )


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(str.upper, id="upper-case"),
        pytest.param(lambda text: "{" + text + "}", id="braces"),
        pytest.param(lambda text: "urn:uuid:" + text, id="urn"),
        pytest.param(lambda text: text.replace("-", ""), id="hex"),
        pytest.param(lambda text: " " + text, id="leading-space"),
    ],
)
def test_id_form_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    form: Any,
) -> None:
    row_id = str(tenant.extra["accounts"][0].id)
    _learn(client, PAGE, tenant.team_token)

    _compare(
        client,
        twin,
        live_server,
        PAGE,
        {"filter": {"id": {"eq": form(row_id)}}},
        tenant.team_token,
    )


NEWEST = "created_at:desc"
ACCOUNTS = "integratedAccounts"


def _created_text(row: models.IntegratedAccount) -> str:
    return row.created_at.isoformat()


@pytest.mark.parametrize(
    ("payload_of", "order"),
    [
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, ["0999-01-01T00:00:00+00:00"], row.id.hex],
            None,
            id="year-999",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, ["9999-12-31T23:59:59+00:00"], row.id.hex],
            None,
            id="year-9999",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, ["0001-01-01T00:30:00+01:00"], row.id.hex],
            None,
            id="year-0-in-utc",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, [_created_text(row)], row.id.hex],
            None,
            id="exact",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, "created_at:asc", [_created_text(row)], row.id.hex],
            None,
            id="other-order",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, [_created_text(row)], row.id.hex],
            [{"field": "CREATED_AT"}],
            id="newest-cursor-in-oldest-order",
        ),
        pytest.param(
            lambda row: ["environments", NEWEST, [_created_text(row)], row.id.hex],
            None,
            id="other-connection",
        ),
        pytest.param(
            lambda row: [
                ACCOUNTS,
                NEWEST,
                [_created_text(row)],
                "{" + str(row.id) + "}",
            ],
            None,
            id="braced-id",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, [_created_text(row)], row.id.hex, 1],
            None,
            id="five-parts",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, NEWEST, [1e308], row.id.hex],
            None,
            id="number-value",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, "tenant_id:asc", ["a\x00b"], row.id.hex],
            [{"field": "TENANT_ID"}],
            id="nul-in-text-value",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, "tenant_id:asc", [""], row.id.hex],
            [{"field": "TENANT_ID"}],
            id="empty-text-value",
        ),
        pytest.param(
            lambda row: [ACCOUNTS, "status:asc", ["zzz"], row.id.hex],
            [{"field": "STATUS"}],
            id="unknown-status-value",
        ),
    ],
)
def test_odd_cursor_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    payload_of: Any,
    order: list[dict[str, str]] | None,
) -> None:
    row = tenant.extra["accounts"][5]
    cursor = base64.urlsafe_b64encode(orjson.dumps(payload_of(row))).decode()
    _learn(client, PAGE, tenant.team_token)

    _compare(
        client,
        twin,
        live_server,
        PAGE,
        {"after": cursor, "orderBy": order, "first": 3},
        tenant.team_token,
    )


FIRST_WITH_DEFAULT = (
    "query($n: Int = 2) { integratedAccounts(first: $n) { nodes { id } } }"
)
FIRST = "query($n: Int) { integratedAccounts(first: $n) { nodes { id } } }"
FIRST_REQUIRED = "query($n: Int!) { integratedAccounts(first: $n) { nodes { id } } }"
ORDER = """
query($o: [IntegratedAccountOrder!]) {
  integratedAccounts(orderBy: $o) { nodes { id } }
}
"""
FILTER = """
query($f: IntegratedAccountFilter) { integratedAccounts(filter: $f) { nodes { id } } }
"""
INNER_TEXT = """
query($t: String) { integratedAccounts(filter: {tenantId: {eq: $t}}) { nodes { id } } }
"""
INNER_LIST = """
query($t: [String!]) {
  integratedAccounts(filter: {tenantId: {in: $t}}) { nodes { id } }
}
"""
INNER_BOOLEAN = """
query($s: Boolean) { integratedAccounts(filter: {isSandbox: $s}) { nodes { id } } }
"""
FOUR_KEYS = [
    {"field": "TENANT_ID"},
    {"field": "CREATED_AT"},
    {"field": "UPDATED_AT"},
    {"field": "STATUS"},
]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(FIRST_WITH_DEFAULT, {}, id="default-used"),
        pytest.param(FIRST_WITH_DEFAULT, {"n": None}, id="default-overridden-by-null"),
        pytest.param(
            FIRST_WITH_DEFAULT, {"n": 3, "unused": {"deep": [1]}}, id="unused-variable"
        ),
        pytest.param(FIRST_REQUIRED, {}, id="missing-required"),
        pytest.param(FIRST, {"n": 2.0}, id="float-first"),
        pytest.param(FIRST, {"n": 2**31}, id="first-beyond-int"),
        pytest.param(FIRST, {"n": -1}, id="negative-first"),
        pytest.param(FIRST, {"n": 100}, id="first-100"),
        pytest.param(FIRST, {"n": True}, id="boolean-first"),
        pytest.param(
            ORDER, {"o": {"field": "TENANT_ID", "direction": "DESC"}}, id="order-object"
        ),
        pytest.param(ORDER, {"o": FOUR_KEYS}, id="four-keys"),
        pytest.param(ORDER, {"o": []}, id="empty-order"),
        pytest.param(ORDER, {"o": [None]}, id="null-order-item"),
        pytest.param(
            FILTER,
            {"f": {"tenantId": {"eq": "plain", "bogus": 1}}},
            id="unknown-filter-field",
        ),
        pytest.param(INNER_TEXT, {}, id="inner-variable-absent"),
        pytest.param(INNER_TEXT, {"t": None}, id="inner-variable-null"),
        pytest.param(INNER_LIST, {"t": "plain"}, id="inner-list-single"),
        pytest.param(INNER_BOOLEAN, {}, id="boolean-absent"),
        pytest.param(INNER_BOOLEAN, {"s": False}, id="boolean-false"),
        pytest.param(
            "{ integratedAccounts(first: 2) { nodes { id } } }",
            {"first": 50},
            id="variables-without-definitions",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { nodes { __typename t: __typename } } }",
            None,
            id="typename-twice",
        ),
        pytest.param(
            """
            { a: integratedAccounts(first: 2) {
                b: nodes { c: id d: tenantId } e: pageInfo { f: hasNextPage } } }
            """,
            None,
            id="aliases",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { nodes { tenantId: id id: tenantId } } }",
            None,
            id="swapped-aliases",
        ),
        pytest.param(
            """
            { integratedAccounts(first: 2) { nodes { ...A ...B } } }
            fragment A on IntegratedAccount { id }
            fragment B on IntegratedAccount { id }
            """,
            None,
            id="fragments-repeat-field",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { nodes { ... on Node { id } } } }",
            None,
            id="interface-fragment",
        ),
        pytest.param(
            """
            { integratedAccounts(first: 2) {
                edges { node { id } } edges2: edges { cursor } } }
            """,
            None,
            id="two-edges",
        ),
        pytest.param(
            """
            { integratedAccounts(first: 2) {
                nodes { integration { id } i2: integration { name } } } }
            """,
            None,
            id="two-joins-same-table",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { pageInfo { startCursor } } }",
            None,
            id="page-info-only",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { totalCount } }", None, id="count-only"
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { __typename } }", None, id="typename-only"
        ),
        pytest.param(
            """
            query Q { integratedAccounts(first: 2) { nodes { id } } }
            query R { environments { nodes { id } } }
            """,
            None,
            id="two-operations-no-name",
        ),
        pytest.param(
            "{ integratedAccounts(first: 2) { nodes { id } } } # comment",
            None,
            id="comment",
        ),
        pytest.param("mutation { __typename }", None, id="mutation"),
        pytest.param(
            """
            { integratedAccounts(first: 2) { nodes { __typename: id id: __typename } } }
            """,
            None,
            id="typename-as-alias",
        ),
        pytest.param(
            "{ integratedAccounts: integratedAccounts(first: 2) { nodes { id } } }",
            None,
            id="root-alias-of-own-name",
        ),
    ],
)
def test_odd_request_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    _send(client, query, None, tenant.team_token)

    _compare(client, twin, live_server, query, variables, tenant.team_token)


TWO_OPERATIONS = """
query Accounts($n: Int) { integratedAccounts(first: $n) { nodes { id tenantId } } }
query Others { integratedAccounts(first: 1) { totalCount } }
"""


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Accounts", id="first"),
        pytest.param("Others", id="second"),
        pytest.param("Missing", id="missing"),
        pytest.param(None, id="none"),
    ],
)
def test_operation_name_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    name: str | None,
) -> None:
    for learned in ("Accounts", "Others"):
        _send(
            client, TWO_OPERATIONS, {"n": 2}, tenant.team_token, operation_name=learned
        )

    _compare(
        client,
        twin,
        live_server,
        TWO_OPERATIONS,
        {"n": 3},
        tenant.team_token,
        operation_name=name,
    )


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"method": "GET"}, id="get"),
        pytest.param({"method": "GET", "operation_name": "Page"}, id="get-named"),
        pytest.param(
            {"headers": {"accept": "application/graphql-response+json"}},
            id="graphql-response-json",
        ),
        pytest.param({"headers": {"accept": "text/html"}}, id="html-accept"),
        pytest.param(
            {"headers": {"accept": "*/*;q=0.1, application/json;q=0.5"}}, id="q-values"
        ),
        pytest.param({"headers": {"origin": "http://127.0.0.1:9"}}, id="origin"),
    ],
)
def test_transport_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    options: dict[str, Any],
) -> None:
    _learn(client, PAGE, tenant.team_token)

    _compare(
        client, twin, live_server, PAGE, {"first": 4}, tenant.team_token, **options
    )


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer", id="no-token"),
        pytest.param("Basic abc", id="basic"),
        pytest.param("Bearer gapi_unknown", id="unknown"),
        pytest.param("Bearer gapi_' OR 1=1 --", id="quote"),
    ],
)
def test_bad_authorization_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    authorization: str,
) -> None:
    _learn(client, PAGE, tenant.team_token)

    response, served = _compare(
        client,
        twin,
        live_server,
        PAGE,
        None,
        None,
        headers={"authorization": authorization},
    )

    assert response.status_code == 401
    assert not served


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param(
            {"filter": {"createdAt": {"lt": "0001-01-01T00:00:00+01:00"}}},
            id="time-before-year-1-in-utc",
        ),
        pytest.param(
            {"filter": {"tenantId": {"contains": "\x00"}}}, id="nul-in-filter"
        ),
        pytest.param(
            {
                "orderBy": [{"field": "TENANT_ID"}],
                "after": base64.urlsafe_b64encode(
                    orjson.dumps([ACCOUNTS, "tenant_id:asc", ["a\x00"], "0" * 32])
                ).decode(),
            },
            id="nul-in-cursor",
        ),
    ],
)
def test_unbindable_value_is_left_to_executor_quietly(
    client: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, Any],
) -> None:
    _learn(client, PAGE, tenant.team_token)

    with caplog.at_level(logging.WARNING, logger="graphql_api.compiled"):
        _send(client, PAGE, variables, tenant.team_token)

    assert "compiled_read_failed" not in caplog.text


# Seconds after which a read that waits for a connection counts as stuck.
STUCK_AFTER_SECONDS = 30


async def test_failed_read_frees_its_connection(database_url: str) -> None:
    url = make_url(database_url)
    reader = open_reader(url, 1)
    assert reader is not None
    # Each statement fails in a way that makes the reader close the
    # connection: on SQLite any error, on PostgreSQL an error of the driver.
    if url.get_backend_name() == "sqlite":
        failing: tuple[str, list[Any]] = ("SELECT * FROM missing_table", [])
    else:
        failing = ("SELECT $1::int", ["not a number"])

    try:
        failed = asyncio.create_task(reader.fetch(*failing))
        waiting = asyncio.create_task(reader.fetch("SELECT 1", []))
        with pytest.raises(Exception, match=r"missing_table|invalid input"):
            await failed
        rows = await asyncio.wait_for(waiting, STUCK_AFTER_SECONDS)
    finally:
        await reader.close()

    assert [tuple(row) for row in rows] == [(1,)]


@pytest.mark.parametrize(
    ("reader", "condition_of"),
    [
        pytest.param(
            "production",
            lambda tenant, other: {"environmentId": {"eq": str(tenant.staging.id)}},
            id="environment-token-asks-for-sibling",
        ),
        pytest.param(
            "other-team",
            lambda tenant, other: {"integrationName": {"eq": "odd_app%*"}},
            id="other-team-asks-for-integration",
        ),
        pytest.param(
            "other-team",
            lambda tenant, other: {
                "environmentId": {
                    "in": [str(tenant.production.id), str(tenant.staging.id)]
                }
            },
            id="other-team-asks-for-environments",
        ),
        pytest.param(
            "other-production",
            lambda tenant, other: {
                "or": [
                    {"tenantId": {"startsWith": "plain"}},
                    {"not": {"tenantId": {"startsWith": "plain"}}},
                ]
            },
            id="tautology",
        ),
    ],
)
def test_scope_holds_on_both_paths(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    other: Tenant,
    reader: str,
    condition_of: Any,
) -> None:
    token = {
        "production": tenant.production_token,
        "other-team": other.team_token,
        "other-production": other.production_token,
    }[reader]
    _learn(client, PAGE, token)

    response, _served = _compare(
        client,
        twin,
        live_server,
        PAGE,
        {"filter": condition_of(tenant, other), "first": 100},
        token,
    )

    nodes = response.json()["data"]["integratedAccounts"]["nodes"]
    environments = {node["environment"]["name"] for node in nodes}
    tenant_ids = {node["tenantId"] for node in nodes}
    if reader == "production":
        assert environments <= {"production"}
        assert tenant_ids <= set(TENANT_IDS)
    else:
        assert tenant_ids <= {f"secret-{n}" for n in range(3)}


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        pytest.param({"revoked_at": timedelta(hours=1)}, 200, id="revoked-later"),
        pytest.param({"expires_at": timedelta(hours=1)}, 200, id="expires-later"),
        pytest.param({"revoked_at": timedelta(seconds=-1)}, 401, id="revoked"),
        pytest.param({"expires_at": timedelta(microseconds=-1)}, 401, id="expired"),
    ],
)
def test_token_state_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    seeder: Seeder,
    tenant: Tenant,
    fields: dict[str, timedelta],
    status: int,
) -> None:
    _learn(client, PAGE, tenant.team_token)
    times = {name: utc_now() + delta for name, delta in fields.items()}
    token = seeder.token(tenant.team, **times)

    response, served = _compare(client, twin, live_server, PAGE, None, token)

    assert response.status_code == status
    assert served is (status == 200)


def test_token_of_foreign_environment_is_refused(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    seeder: Seeder,
    tenant: Tenant,
    other: Tenant,
) -> None:
    # Unreachable through the API: a hand-edited token of one team that
    # names an environment of another team.
    token = generate_token()
    seeder.add(
        models.ApiToken(
            team_id=other.team.id,
            environment_id=tenant.production.id,
            token_hash=hash_token(token),
        )
    )
    _learn(client, PAGE, tenant.team_token)

    response, served = _compare(client, twin, live_server, PAGE, None, token)

    assert response.status_code == 401
    assert not served


# File descriptors that may open late in the measured rounds: a pool's
# overflow connection, or a WAL file that a warm connection opens on first use.
DESCRIPTOR_SLACK = 5


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_reads_keep_descriptors_bounded(
    live_server: LiveServer, seeder: Seeder, tenant: Tenant
) -> None:
    # Served, executor-bound and failing requests, sent from 16 threads over
    # one keep-alive pool, so that every read connection is in use at once.
    requests = [
        {"first": 3},
        {"first": 0},
        {"after": "not-a-cursor"},
        {"filter": {"createdAt": {"lt": "0001-01-01T00:00:00+01:00"}}},
        {"filter": {"tenantId": {"contains": "\x00"}}},
    ]
    token = seeder.token(tenant.team)
    headers = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    counts = []

    with (
        httpx.Client(base_url=live_server.url, limits=limits, trust_env=False) as http,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):

        def send(index: int) -> int:
            body = {"query": PAGE, "variables": requests[index % len(requests)]}
            return http.post("/graphql", json=body, headers=headers).status_code

        statuses = list(pool.map(send, range(300)))
        before = _open_descriptors()
        for _round in range(3):
            statuses.extend(pool.map(send, range(250)))
            counts.append(_open_descriptors())

    assert set(statuses) == {200}
    assert max(counts) <= before + DESCRIPTOR_SLACK


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param("", id="empty"),
        pytest.param("null", id="null"),
        pytest.param("[]", id="list"),
        pytest.param('{"first": 2', id="truncated"),
        pytest.param('{"first": 2, "first": 3}', id="repeated-key"),
        pytest.param('{"first": 2}\n', id="trailing-newline"),
    ],
)
def test_get_variables_text_matches_executor(
    client: GraphQLClient,
    twin: GraphQLClient,
    live_server: LiveServer,
    tenant: Tenant,
    variables: str,
) -> None:
    params = {"query": PAGE, "variables": variables}
    headers = {
        "authorization": f"Bearer {tenant.team_token}",
        "accept": "application/json",
    }
    _learn(client, PAGE, tenant.team_token)
    client.http.get("/graphql", params=params, headers=headers)

    compiled = client.http.get("/graphql", params=params, headers=headers)
    executed = twin.http.get("/graphql", params=params, headers=headers)

    assert compiled.status_code == executed.status_code
    assert _stable_body(compiled) == _stable_body(executed)
