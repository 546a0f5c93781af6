"""Invalid documents and arguments get clear, typed errors and never a traceback."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import pytest

from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    tenant = make_tenant(seeder)
    integration = seeder.integration(tenant.team, "inputs")
    install = seeder.install(tenant.production, integration)
    seeder.account(install, tenant_id="bad-input-account")
    return tenant


def _single_error(
    client: GraphQLClient,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    errors = client.errors(query, variables, token=token)
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize(
    ("query", "variables", "code", "message_part"),
    [
        pytest.param(
            "{ integratedAccounts(filter: {status: {eq: DORMANT}}) { totalCount } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "DORMANT",
            id="unknown-enum-literal",
        ),
        pytest.param(
            "query ($s: IntegratedAccountStatus!) {"
            " integratedAccounts(filter: {status: {eq: $s}}) { totalCount } }",
            {"s": "DORMANT"},
            "BAD_USER_INPUT",
            "DORMANT",
            id="unknown-enum-variable",
        ),
        pytest.param(
            "query ($s: IntegratedAccountStatus!) {"
            " integratedAccounts(filter: {status: {eq: $s}}) { totalCount } }",
            {"s": "active"},
            "BAD_USER_INPUT",
            "'active'",
            id="lower-case-enum-variable",
        ),
        pytest.param(
            '{ integratedAccounts(filter: {createdAt: {gt: "2024-01-01T00:00:00"}})'
            " { totalCount } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "has no UTC offset",
            id="datetime-literal-without-offset",
        ),
        pytest.param(
            "query ($d: DateTime!) {"
            " integratedAccounts(filter: {createdAt: {gt: $d}}) { totalCount } }",
            {"d": "yesterday"},
            "BAD_USER_INPUT",
            "'yesterday' is malformed",
            id="datetime-variable-malformed",
        ),
        pytest.param(
            "query ($d: DateTime!) {"
            " integratedAccounts(filter: {createdAt: {gt: $d}}) { totalCount } }",
            {"d": "2024-05-01T12:00:00"},
            "BAD_USER_INPUT",
            "has no UTC offset",
            id="datetime-variable-without-offset",
        ),
        pytest.param(
            "query ($d: DateTime!) {"
            " integratedAccounts(filter: {createdAt: {gt: $d}}) { totalCount } }",
            {"d": 1714564800},
            "BAD_USER_INPUT",
            "must be a string",
            id="datetime-variable-number",
        ),
        pytest.param(
            "query ($n: Int) { integratedAccounts(first: $n) { totalCount } }",
            {"n": "ten"},
            "BAD_USER_INPUT",
            "Int",
            id="wrong-variable-type",
        ),
        pytest.param(
            "query ($n: Int) { integratedAccounts(first: $n) { totalCount } }",
            {"n": 2**40},
            "BAD_USER_INPUT",
            "Int",
            id="integer-out-of-range",
        ),
        pytest.param(
            "{ integratedAccounts(first: 101) { totalCount } }",
            None,
            "BAD_USER_INPUT",
            "between 0 and 100",
            id="first-over-100",
        ),
        pytest.param(
            "{ integratedAccounts { totalCount ",
            None,
            "GRAPHQL_PARSE_FAILED",
            "Syntax Error",
            id="malformed-document",
        ),
        pytest.param(
            "{ integratedAccounts { secretField } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "secretField",
            id="unknown-field",
        ),
        pytest.param(
            '{ node(id: "12345") { id } }',
            None,
            "BAD_USER_INPUT",
            "'12345' is not a valid id",
            id="malformed-node-id",
        ),
        pytest.param(
            "{ environments { nodes { environments { totalCount } } } }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
            "environments",
            id="field-on-wrong-type",
        ),
        pytest.param(
            "query ($f: IntegratedAccountFilter) {"
            " integratedAccounts(filter: $f) { totalCount } }",
            {"f": {"createdAt": {"lt": "0001-01-01T00:00:00+01:00"}}},
            "BAD_USER_INPUT",
            "outside the years 1 to 9999",
            id="timestamp-before-year-1-in-utc",
        ),
        pytest.param(
            "query ($f: IntegratedAccountFilter) {"
            " integratedAccounts(filter: $f) { totalCount } }",
            {"f": {"tenantId": {"eq": "acme\x00"}}},
            "BAD_USER_INPUT",
            "U+0000",
            id="nul-in-text-filter",
        ),
        pytest.param(
            "query ($f: IntegratedAccountFilter) {"
            " integratedAccounts(filter: $f) { totalCount } }",
            {"f": {"tenantId": {"contains": "y" * 60_000}}},
            "BAD_USER_INPUT",
            "60000 characters, more than the maximum of 1000",
            id="text-filter-too-long",
        ),
        pytest.param(
            "query ($f: IntegratedAccountFilter) {"
            " integratedAccounts(filter: $f) { totalCount } }",
            {"f": {"integrationName": {"in": ["crm", "z" * 1001]}}},
            "BAD_USER_INPUT",
            "`in` has a value of 1001 characters",
            id="text-in-list-too-long",
        ),
    ],
)
def test_bad_input_gets_typed_error(
    client: GraphQLClient,
    tenant: Tenant,
    query: str,
    variables: dict[str, Any] | None,
    code: str,
    message_part: str,
) -> None:
    error = _single_error(client, tenant.team_token, query, variables)

    assert error["extensions"]["code"] == code
    assert message_part in error["message"]


def test_too_many_node_ids_are_rejected(client: GraphQLClient, tenant: Tenant) -> None:
    ids = [str(uuid.uuid4()) for _ in range(101)]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"

    error = _single_error(client, tenant.team_token, query, {"ids": ids})

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 100" in error["message"]


def test_missing_node_id_returns_null(client: GraphQLClient, tenant: Tenant) -> None:
    query = "query ($id: ID!) { node(id: $id) { id } }"

    data = client.data(query, {"id": str(uuid.uuid4())}, token=tenant.team_token)

    assert data == {"node": None}


def test_too_deep_document_is_rejected(client: GraphQLClient, tenant: Tenant) -> None:
    nested = "id"
    for _ in range(7):
        nested = f"environment {{ integratedAccounts {{ nodes {{ {nested} }} }} }}"
    query = f"{{ integratedAccounts {{ nodes {{ {nested} }} }} }}"

    error = _single_error(client, tenant.team_token, query)

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "exceeds maximum operation depth" in error["message"]


def test_too_many_aliases_are_rejected(client: GraphQLClient, tenant: Tenant) -> None:
    fields = " ".join(f"a{n}: environments {{ totalCount }}" for n in range(60))

    error = _single_error(client, tenant.team_token, f"{{ {fields} }}")

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in error["message"]


def test_overcomplex_document_gets_advice(
    client: GraphQLClient, tenant: Tenant
) -> None:
    # graphql-core stops validating fields that overlap this many times.
    query = "{ " + " ".join(["__typename"] * 900) + " }"

    error = _single_error(client, tenant.team_token, query)

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "too complex to validate" in error["message"]
    assert "Remove repeated fields" in error["message"]


def test_unexpected_failure_is_masked(
    client: GraphQLClient,
    seeder: Seeder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = make_tenant(seeder)
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    # The resolver fails on a status outside the enum.
    seeder.account(install, status="dormant")

    with caplog.at_level(logging.ERROR, logger="graphql_api.errors"):
        response = client.post(
            "{ integratedAccounts { nodes { status } } }", token=tenant.team_token
        )

    [error] = response.json()["errors"]
    request_id = response.headers["x-request-id"]
    assert response.status_code == 200
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": request_id,
    }
    assert request_id in error["message"]
    assert "dormant" not in response.text
    assert "Traceback" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert any(record.exc_info for record in caplog.records)


LONG_VALUE_LENGTH = 10_000
# Long enough for the message template and two values truncated to 60 characters,
# far below the 10,000 characters of the value itself.
MAX_MESSAGE_LENGTH = 500


def _long_value(prefix: str) -> str:
    return prefix + "x" * (LONG_VALUE_LENGTH - len(prefix))


def _forged_cursor(connection: str, order: str) -> str:
    payload = [connection, order, [], uuid.uuid4().hex]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode("ascii")


ACCOUNTS_PAGE_QUERY = (
    "query ($after: String, $before: String) {"
    " integratedAccounts(after: $after, before: $before) { totalCount } }"
)


@pytest.mark.parametrize(
    ("query", "variables", "message_part"),
    [
        pytest.param(
            "query ($id: ID!) { node(id: $id) { id } }",
            {"id": _long_value("bad-node-id-")},
            "`id` value 'bad-node-id-xxx",
            id="node-id",
        ),
        pytest.param(
            "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [_long_value("bad-nodes-id-")]},
            "`ids` value 'bad-nodes-id-xxx",
            id="nodes-ids",
        ),
        pytest.param(
            "query ($id: ID!) {"
            " integratedAccounts(filter: {id: {eq: $id}}) { totalCount } }",
            {"id": _long_value("bad-filter-id-")},
            "`eq` value 'bad-filter-id-xxx",
            id="filter-id",
        ),
        pytest.param(
            ACCOUNTS_PAGE_QUERY,
            {"after": _long_value("bad-cursor-")},
            "in `after` is malformed",
            id="garbage-cursor",
        ),
        pytest.param(
            ACCOUNTS_PAGE_QUERY,
            {"before": _forged_cursor(_long_value("forged-"), "created_at:desc")},
            "belongs to the connection 'forged-xxx",
            id="cursor-of-long-connection",
        ),
        pytest.param(
            ACCOUNTS_PAGE_QUERY,
            {"after": _forged_cursor("integratedAccounts", _long_value("order-"))},
            "was made for the order 'order-xxx",
            id="cursor-of-long-order",
        ),
    ],
)
def test_long_bad_value_gets_short_message(
    client: GraphQLClient,
    tenant: Tenant,
    query: str,
    variables: dict[str, Any],
    message_part: str,
) -> None:
    error = _single_error(client, tenant.team_token, query, variables)
    message = error["message"]

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message_part in message
    assert f"... ({LONG_VALUE_LENGTH} characters)" in message
    assert len(message) < MAX_MESSAGE_LENGTH
