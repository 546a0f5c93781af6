"""Filters of the list fields, checked against the seeded rows.

Each case pairs a GraphQL filter with a Python predicate over the seeded
accounts. The test compares the ids that the server returns with the ids
that the predicate selects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from db import models
from db.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SuperQueryRegion,
)
from db.types import utc_now
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

ACCOUNT_IDS_QUERY = """
query Accounts($filter: IntegratedAccountFilter) {
  integratedAccounts(filter: $filter, first: 100) {
    totalCount
    nodes { id }
  }
}
"""

TENANT_IDS = [
    "Acme-1",
    "acme-2",
    "ACME_3",
    "beta%1",
    "beta_2",
    "betaX2",
    "gamma*[x]?",
    "gammaZxQ",
    "xylophone",
    "delta",
    "epsilon",
    "zeta",
]


@dataclass
class AccountFacts:
    """What the predicates may read about one seeded account."""

    id: str
    tenant_id: str
    status: str
    authentication_method: str | None
    region: str
    super_query: str | None
    is_sandbox: bool
    integration_id: str
    integration_name: str
    integration_category: str
    environment_id: str
    environment_integration_id: str
    created_at: datetime
    updated_at: datetime


@dataclass
class FilterWorld:
    tenant: Tenant
    accounts: list[AccountFacts]
    installs: dict[str, models.EnvironmentIntegration]
    integrations: dict[str, models.Integration]


@pytest.fixture(scope="module")
def world(seeder: Seeder) -> FilterWorld:
    tenant = make_tenant(seeder)
    integrations = {
        "Salesforce": seeder.integration(tenant.team, "Salesforce", category="crm"),
        "salesloft": seeder.integration(tenant.team, "salesloft", category="sales"),
        "BambooHR": seeder.integration(tenant.team, "BambooHR", category="hris"),
    }
    installs = {
        "production-Salesforce": seeder.install(
            tenant.production, integrations["Salesforce"]
        ),
        "production-salesloft": seeder.install(
            tenant.production, integrations["salesloft"]
        ),
        "staging-BambooHR": seeder.install(tenant.staging, integrations["BambooHR"]),
        "staging-Salesforce": seeder.install(
            tenant.staging, integrations["Salesforce"]
        ),
    }

    rows = _account_rows(seeder, list(installs.values()))
    seeder.add(*rows)

    accounts = [_facts(row, integrations) for row in rows]
    return FilterWorld(tenant, accounts, installs, integrations)


def _account_rows(
    seeder: Seeder, installs: list[models.EnvironmentIntegration]
) -> list[models.IntegratedAccount]:
    """Build one account per tenant id, cycling through every field's values."""
    install_cycle = itertools.cycle(installs)
    statuses = itertools.cycle(list(IntegratedAccountStatus))
    methods = itertools.cycle([*AuthenticationMethod, None])
    regions = itertools.cycle(list(Region))
    super_queries = itertools.cycle(
        [None, SuperQueryRegion.APAC, None, SuperQueryRegion.WNAM]
    )
    start = utc_now() - timedelta(days=30)
    rows = []
    for index, tenant_id in enumerate(TENANT_IDS):
        created_at = start + timedelta(hours=index)
        row = seeder.account_row(
            next(install_cycle),
            tenant_id=tenant_id,
            status=next(statuses).value,
            authentication_method=_value_or_none(next(methods)),
            region=next(regions).value,
            super_query=_value_or_none(next(super_queries)),
            is_sandbox=index % 3 == 0,
            created_at=created_at,
            updated_at=created_at + timedelta(minutes=index * 7),
        )
        rows.append(row)
    return rows


def _facts(
    row: models.IntegratedAccount, integrations: dict[str, models.Integration]
) -> AccountFacts:
    [integration_name] = [
        name
        for name, integration in integrations.items()
        if integration.id == row.integration_id
    ]
    return AccountFacts(
        id=str(row.id),
        tenant_id=row.tenant_id,
        status=row.status,
        authentication_method=row.authentication_method,
        region=row.region,
        super_query=row.super_query,
        is_sandbox=row.is_sandbox,
        integration_id=str(row.integration_id),
        integration_name=integration_name,
        integration_category=integrations[integration_name].category,
        environment_id=str(row.environment_id),
        environment_integration_id=str(row.environment_integration_id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _value_or_none(member: Any) -> str | None:
    return None if member is None else member.value


Predicate = Callable[[AccountFacts], bool]
Case = Callable[[FilterWorld], tuple[dict[str, Any], Predicate]]


def _fixed(filter_: dict[str, Any], predicate: Predicate) -> Case:
    return lambda _world: (filter_, predicate)


def _sixth_account(world: FilterWorld) -> AccountFacts:
    return world.accounts[5]


def _install_id(world: FilterWorld, key: str) -> str:
    return str(world.installs[key].id)


FILTER_CASES = [
    # tenantId: every string operator, case-sensitive, wildcards literal.
    pytest.param(
        _fixed({"tenantId": {"eq": "acme-2"}}, lambda a: a.tenant_id == "acme-2"),
        id="tenant-eq",
    ),
    pytest.param(
        _fixed({"tenantId": {"ne": "acme-2"}}, lambda a: a.tenant_id != "acme-2"),
        id="tenant-ne",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"in": ["delta", "zeta", "missing"]}},
            lambda a: a.tenant_id in {"delta", "zeta"},
        ),
        id="tenant-in",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"notIn": ["delta", "zeta"]}},
            lambda a: a.tenant_id not in {"delta", "zeta"},
        ),
        id="tenant-not-in",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"startsWith": "acme"}},
            lambda a: a.tenant_id.startswith("acme"),
        ),
        id="tenant-starts-with-is-case-sensitive",
    ),
    pytest.param(
        _fixed({"tenantId": {"contains": "CME"}}, lambda a: "CME" in a.tenant_id),
        id="tenant-contains-is-case-sensitive",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"startsWith": "beta_"}},
            lambda a: a.tenant_id.startswith("beta_"),
        ),
        id="tenant-starts-with-underscore-is-literal",
    ),
    pytest.param(
        _fixed({"tenantId": {"contains": "%"}}, lambda a: "%" in a.tenant_id),
        id="tenant-contains-percent-is-literal",
    ),
    pytest.param(
        _fixed({"tenantId": {"contains": "*[x]?"}}, lambda a: "*[x]?" in a.tenant_id),
        id="tenant-contains-glob-characters-is-literal",
    ),
    pytest.param(
        _fixed({"tenantId": {"contains": "[x]"}}, lambda a: "[x]" in a.tenant_id),
        id="tenant-contains-bracket-is-literal",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"startsWith": "gamma*"}},
            lambda a: a.tenant_id.startswith("gamma*"),
        ),
        id="tenant-starts-with-star-is-literal",
    ),
    pytest.param(
        _fixed({"tenantId": {"contains": "?"}}, lambda a: "?" in a.tenant_id),
        id="tenant-contains-question-mark-is-literal",
    ),
    pytest.param(
        _fixed(
            {"tenantId": {"startsWith": "beta", "ne": "betaX2"}},
            lambda a: a.tenant_id.startswith("beta") and a.tenant_id != "betaX2",
        ),
        id="tenant-two-operators-both-hold",
    ),
    # ids
    pytest.param(
        lambda w: (
            {"id": {"eq": _sixth_account(w).id}},
            lambda a: a.id == _sixth_account(w).id,
        ),
        id="id-eq",
    ),
    pytest.param(
        lambda w: (
            {"id": {"in": [w.accounts[0].id, w.accounts[3].id]}},
            lambda a: a.id in {w.accounts[0].id, w.accounts[3].id},
        ),
        id="id-in",
    ),
    pytest.param(
        lambda w: (
            {"environmentId": {"eq": str(w.tenant.staging.id)}},
            lambda a: a.environment_id == str(w.tenant.staging.id),
        ),
        id="environment-id-eq",
    ),
    pytest.param(
        lambda w: (
            {"environmentIntegrationId": {"in": [_install_id(w, "staging-BambooHR")]}},
            lambda a: (
                a.environment_integration_id == _install_id(w, "staging-BambooHR")
            ),
        ),
        id="environment-integration-id-in",
    ),
    pytest.param(
        lambda w: (
            {"integrationId": {"eq": str(w.integrations["salesloft"].id)}},
            lambda a: a.integration_id == str(w.integrations["salesloft"].id),
        ),
        id="integration-id-eq",
    ),
    # integration name and category, through the integration table
    pytest.param(
        _fixed(
            {"integrationName": {"eq": "Salesforce"}},
            lambda a: a.integration_name == "Salesforce",
        ),
        id="integration-name-eq",
    ),
    pytest.param(
        _fixed(
            {"integrationName": {"startsWith": "sales"}},
            lambda a: a.integration_name.startswith("sales"),
        ),
        id="integration-name-starts-with-is-case-sensitive",
    ),
    pytest.param(
        _fixed(
            {"integrationName": {"contains": "HR"}},
            lambda a: "HR" in a.integration_name,
        ),
        id="integration-name-contains",
    ),
    pytest.param(
        _fixed(
            {"integrationName": {"ne": "Salesforce"}},
            lambda a: a.integration_name != "Salesforce",
        ),
        id="integration-name-ne",
    ),
    pytest.param(
        _fixed(
            {"integrationName": {"notIn": ["Salesforce", "BambooHR"]}},
            lambda a: a.integration_name not in {"Salesforce", "BambooHR"},
        ),
        id="integration-name-not-in",
    ),
    pytest.param(
        _fixed(
            {"integrationCategory": {"in": ["hris", "sales"]}},
            lambda a: a.integration_category in {"hris", "sales"},
        ),
        id="integration-category-in",
    ),
    # enums
    pytest.param(
        _fixed({"status": {"eq": "ACTIVE"}}, lambda a: a.status == "active"),
        id="status-eq",
    ),
    pytest.param(
        _fixed({"status": {"ne": "ACTIVE"}}, lambda a: a.status != "active"),
        id="status-ne",
    ),
    pytest.param(
        _fixed(
            {"status": {"in": ["NEEDS_REAUTH", "VALIDATION_ERROR"]}},
            lambda a: a.status in {"needs_reauth", "validation_error"},
        ),
        id="status-in",
    ),
    pytest.param(
        _fixed(
            {"status": {"notIn": ["ACTIVE", "CONNECTING"]}},
            lambda a: a.status not in {"active", "connecting"},
        ),
        id="status-not-in",
    ),
    pytest.param(
        _fixed(
            {"authenticationMethod": {"eq": "OAUTH2"}},
            lambda a: a.authentication_method == "oauth2",
        ),
        id="authentication-method-eq",
    ),
    pytest.param(
        _fixed(
            {"authenticationMethod": {"ne": "OAUTH2"}},
            lambda a: a.authentication_method != "oauth2",
        ),
        id="authentication-method-ne-keeps-unset",
    ),
    pytest.param(
        _fixed(
            {"authenticationMethod": {"in": ["API_KEY", "KEKA_OAUTH"]}},
            lambda a: a.authentication_method in {"api_key", "keka_oauth"},
        ),
        id="authentication-method-in",
    ),
    pytest.param(
        _fixed(
            {"authenticationMethod": {"notIn": ["API_KEY", "KEKA_OAUTH"]}},
            lambda a: a.authentication_method not in {"api_key", "keka_oauth"},
        ),
        id="authentication-method-not-in-keeps-unset",
    ),
    pytest.param(
        _fixed({"region": {"eq": "EU"}}, lambda a: a.region == "eu"),
        id="region-eq",
    ),
    pytest.param(
        _fixed({"region": {"ne": "EU"}}, lambda a: a.region != "eu"),
        id="region-ne",
    ),
    pytest.param(
        _fixed(
            {"region": {"in": ["APAC", "ENAM"]}}, lambda a: a.region in {"apac", "enam"}
        ),
        id="region-in",
    ),
    pytest.param(
        _fixed(
            {"region": {"notIn": ["APAC", "ENAM"]}},
            lambda a: a.region not in {"apac", "enam"},
        ),
        id="region-not-in",
    ),
    pytest.param(
        _fixed({"superQuery": {"eq": "APAC"}}, lambda a: a.super_query == "apac"),
        id="super-query-eq",
    ),
    pytest.param(
        _fixed({"superQuery": {"ne": "APAC"}}, lambda a: a.super_query != "apac"),
        id="super-query-ne-keeps-unset",
    ),
    pytest.param(
        _fixed(
            {"superQuery": {"in": ["APAC", "WNAM"]}},
            lambda a: a.super_query is not None,
        ),
        id="super-query-in",
    ),
    pytest.param(
        _fixed({"superQuery": {"notIn": ["WNAM"]}}, lambda a: a.super_query != "wnam"),
        id="super-query-not-in-keeps-unset",
    ),
    # booleans
    pytest.param(
        _fixed({"isSandbox": True}, lambda a: a.is_sandbox),
        id="is-sandbox-true",
    ),
    pytest.param(
        _fixed({"isSandbox": False}, lambda a: not a.is_sandbox),
        id="is-sandbox-false",
    ),
    # timestamps
    pytest.param(
        lambda w: (
            {"createdAt": {"eq": _sixth_account(w).created_at.isoformat()}},
            lambda a: a.created_at == _sixth_account(w).created_at,
        ),
        id="created-at-eq",
    ),
    pytest.param(
        lambda w: (
            {"createdAt": {"gt": _sixth_account(w).created_at.isoformat()}},
            lambda a: a.created_at > _sixth_account(w).created_at,
        ),
        id="created-at-gt",
    ),
    pytest.param(
        lambda w: (
            {"createdAt": {"gte": _sixth_account(w).created_at.isoformat()}},
            lambda a: a.created_at >= _sixth_account(w).created_at,
        ),
        id="created-at-gte",
    ),
    pytest.param(
        lambda w: (
            {"createdAt": {"lt": _sixth_account(w).created_at.isoformat()}},
            lambda a: a.created_at < _sixth_account(w).created_at,
        ),
        id="created-at-lt",
    ),
    pytest.param(
        lambda w: (
            {"createdAt": {"lte": _sixth_account(w).created_at.isoformat()}},
            lambda a: a.created_at <= _sixth_account(w).created_at,
        ),
        id="created-at-lte",
    ),
    pytest.param(
        lambda w: (
            {
                "createdAt": {
                    "gt": w.accounts[2].created_at.isoformat(),
                    "lte": w.accounts[8].created_at.isoformat(),
                }
            },
            lambda a: (
                w.accounts[2].created_at < a.created_at <= w.accounts[8].created_at
            ),
        ),
        id="created-at-range",
    ),
    pytest.param(
        lambda w: (
            {
                "createdAt": {
                    # The same instant written with a +02:00 offset.
                    "eq": _sixth_account(w)
                    .created_at.astimezone(_plus_two_hours())
                    .isoformat()
                }
            },
            lambda a: a.created_at == _sixth_account(w).created_at,
        ),
        id="created-at-eq-with-other-offset",
    ),
    pytest.param(
        lambda w: (
            {"updatedAt": {"gte": _sixth_account(w).updated_at.isoformat()}},
            lambda a: a.updated_at >= _sixth_account(w).updated_at,
        ),
        id="updated-at-gte",
    ),
    pytest.param(
        lambda w: (
            {"updatedAt": {"lt": _sixth_account(w).updated_at.isoformat()}},
            lambda a: a.updated_at < _sixth_account(w).updated_at,
        ),
        id="updated-at-lt",
    ),
    # combinations
    pytest.param(
        _fixed(
            {"isSandbox": False, "integrationName": {"eq": "Salesforce"}},
            lambda a: not a.is_sandbox and a.integration_name == "Salesforce",
        ),
        id="two-fields-both-hold",
    ),
    pytest.param(
        _fixed(
            {"and": [{"region": {"ne": "EU"}}, {"status": {"ne": "ACTIVE"}}]},
            lambda a: a.region != "eu" and a.status != "active",
        ),
        id="and",
    ),
    pytest.param(
        _fixed(
            {"or": [{"tenantId": {"eq": "delta"}}, {"region": {"eq": "EU"}}]},
            lambda a: a.tenant_id == "delta" or a.region == "eu",
        ),
        id="or",
    ),
    pytest.param(
        _fixed(
            {"not": {"integrationName": {"eq": "Salesforce"}}},
            lambda a: a.integration_name != "Salesforce",
        ),
        id="not",
    ),
    pytest.param(
        _fixed(
            {"not": {"authenticationMethod": {"eq": "API_KEY"}}},
            lambda a: a.authentication_method != "api_key",
        ),
        id="not-on-nullable-keeps-unset",
    ),
    pytest.param(
        _fixed(
            {"not": {"superQuery": {"ne": "APAC"}}},
            lambda a: a.super_query == "apac",
        ),
        id="not-ne-on-nullable-drops-unset",
    ),
    pytest.param(
        _fixed(
            {
                "or": [
                    {"and": [{"isSandbox": True}, {"not": {"region": {"eq": "WNAM"}}}]},
                    {"tenantId": {"startsWith": "gamma"}},
                ],
                "not": {"status": {"eq": "CONNECTING"}},
            },
            lambda a: (
                (
                    (a.is_sandbox and a.region != "wnam")
                    or a.tenant_id.startswith("gamma")
                )
                and a.status != "connecting"
            ),
        ),
        id="nested-and-or-not",
    ),
]


def _plus_two_hours() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def _returned_ids(
    client: GraphQLClient, token: str, filter_: dict[str, Any]
) -> tuple[set[str], int]:
    data = client.data(ACCOUNT_IDS_QUERY, {"filter": filter_}, token=token)
    connection = data["integratedAccounts"]
    return {node["id"] for node in connection["nodes"]}, connection["totalCount"]


@pytest.mark.parametrize("case", FILTER_CASES)
def test_account_filter_matches_predicate(
    client: GraphQLClient, world: FilterWorld, case: Case
) -> None:
    filter_, predicate = case(world)
    expected = {account.id for account in world.accounts if predicate(account)}

    returned, total = _returned_ids(client, world.tenant.team_token, filter_)

    assert returned == expected
    assert total == len(expected)
    # A case that selects nothing or everything would not test its filter.
    assert 0 < len(expected) < len(world.accounts)


def test_empty_or_matches_nothing(client: GraphQLClient, world: FilterWorld) -> None:
    returned, total = _returned_ids(client, world.tenant.team_token, {"or": []})

    assert returned == set()
    assert total == 0


def test_empty_and_matches_everything(
    client: GraphQLClient, world: FilterWorld
) -> None:
    returned, _total = _returned_ids(client, world.tenant.team_token, {"and": []})

    assert returned == {account.id for account in world.accounts}


def test_null_field_adds_no_condition(
    client: GraphQLClient, world: FilterWorld
) -> None:
    returned, _total = _returned_ids(
        client, world.tenant.team_token, {"tenantId": None, "isSandbox": None}
    )

    assert returned == {account.id for account in world.accounts}


@pytest.mark.parametrize(
    "operator", ["eq", "ne", "in", "notIn", "startsWith", "contains"]
)
def test_null_string_operator_is_rejected(
    client: GraphQLClient, world: FilterWorld, operator: str
) -> None:
    errors = client.errors(
        ACCOUNT_IDS_QUERY,
        {"filter": {"tenantId": {operator: None}}},
        token=world.tenant.team_token,
    )

    assert len(errors) == 1
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"`{operator}` is null" in errors[0]["message"]


def test_filter_nested_too_deep_is_rejected(
    client: GraphQLClient, world: FilterWorld
) -> None:
    filter_: dict[str, Any] = {"isSandbox": True}
    for _ in range(10):
        filter_ = {"not": filter_}

    errors = client.errors(
        ACCOUNT_IDS_QUERY, {"filter": filter_}, token=world.tenant.team_token
    )

    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "levels deep" in errors[0]["message"]


def test_filter_at_node_limit_is_accepted(
    client: GraphQLClient, world: FilterWorld
) -> None:
    # The top filter and its 99 `or` items make 100 filter objects.
    branches = [{"tenantId": {"eq": f"absent-{i}"}} for i in range(98)]
    branches.append({"tenantId": {"eq": world.accounts[0].tenant_id}})

    returned, _total = _returned_ids(client, world.tenant.team_token, {"or": branches})

    assert returned == {world.accounts[0].id}


@pytest.mark.parametrize(
    "branches", [pytest.param(100, id="100"), pytest.param(1000, id="1000")]
)
def test_filter_with_too_many_branches_is_rejected(
    client: GraphQLClient, world: FilterWorld, branches: int
) -> None:
    filter_ = {"or": [{"tenantId": {"eq": f"t-{i}"}} for i in range(branches)]}

    errors = client.errors(
        ACCOUNT_IDS_QUERY, {"filter": filter_}, token=world.tenant.team_token
    )

    assert len(errors) == 1
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "more than 100 filter objects" in errors[0]["message"]


def test_malformed_id_in_filter_is_rejected(
    client: GraphQLClient, world: FilterWorld
) -> None:
    errors = client.errors(
        ACCOUNT_IDS_QUERY,
        {"filter": {"id": {"eq": "not-a-uuid"}}},
        token=world.tenant.team_token,
    )

    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'not-a-uuid' is not a valid id" in errors[0]["message"]


# Filters of the other lists.

INTEGRATION_NAMES_QUERY = """
query Integrations($filter: IntegrationFilter) {
  integrations(filter: $filter, first: 100) { nodes { name } }
}
"""


@pytest.fixture(scope="module")
def catalog(seeder: Seeder) -> Tenant:
    tenant = make_tenant(seeder)
    seeder.integration(
        tenant.team, "Pipedrive", category="crm", is_beta=True, sharing="allow"
    )
    seeder.integration(tenant.team, "pipeline", category="crm", sharing="ask")
    seeder.integration(tenant.team, "Gusto", category="hris")
    return tenant


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param({"name": {"eq": "Gusto"}}, {"Gusto"}, id="name-eq"),
        pytest.param(
            {"name": {"startsWith": "Pipe"}}, {"Pipedrive"}, id="name-starts-with"
        ),
        pytest.param(
            {"name": {"contains": "ipe"}}, {"Pipedrive", "pipeline"}, id="name-contains"
        ),
        pytest.param({"category": {"eq": "hris"}}, {"Gusto"}, id="category-eq"),
        pytest.param(
            {"category": {"ne": "hris"}}, {"Pipedrive", "pipeline"}, id="category-ne"
        ),
        pytest.param({"isBeta": True}, {"Pipedrive"}, id="is-beta"),
        pytest.param({"sharing": {"eq": "ASK"}}, {"pipeline"}, id="sharing-eq"),
        pytest.param(
            {"sharing": {"notIn": ["ASK", "ALLOW"]}}, {"Gusto"}, id="sharing-not-in"
        ),
        pytest.param(
            {"or": [{"isBeta": True}, {"category": {"eq": "hris"}}]},
            {"Pipedrive", "Gusto"},
            id="or",
        ),
    ],
)
def test_integration_filter(
    client: GraphQLClient, catalog: Tenant, filter_: dict[str, Any], expected: set[str]
) -> None:
    data = client.data(
        INTEGRATION_NAMES_QUERY, {"filter": filter_}, token=catalog.team_token
    )

    names = {node["name"] for node in data["integrations"]["nodes"]}
    # Other tests' teams may share integrations with ALLOW, so only this
    # team's names are compared.
    assert names & {"Pipedrive", "pipeline", "Gusto"} == expected


INSTALLS_QUERY = """
query Installs($filter: EnvironmentIntegrationFilter) {
  environmentIntegrations(filter: $filter, first: 100) {
    nodes { integration { name } environment { name } }
  }
}
"""


@pytest.fixture(scope="module")
def installed(seeder: Seeder) -> Tenant:
    tenant = make_tenant(seeder)
    chat = seeder.integration(tenant.team, "Chatter")
    mail = seeder.integration(tenant.team, "Mailer")
    seeder.install(tenant.production, chat, is_enabled=False)
    seeder.install(tenant.production, mail, show_in_catalog=False)
    seeder.install(tenant.staging, chat)
    return tenant


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param(
            {"integrationName": {"eq": "Chatter"}},
            {("Chatter", "production"), ("Chatter", "staging")},
            id="integration-name-eq",
        ),
        pytest.param(
            {"integrationName": {"startsWith": "Mail"}},
            {("Mailer", "production")},
            id="integration-name-starts-with",
        ),
        pytest.param(
            {"isEnabled": False}, {("Chatter", "production")}, id="is-enabled-false"
        ),
        pytest.param(
            {"showInCatalog": True},
            {("Chatter", "production"), ("Chatter", "staging")},
            id="show-in-catalog-true",
        ),
        pytest.param(
            {"not": {"isEnabled": False}, "showInCatalog": True},
            {("Chatter", "staging")},
            id="not-and-field",
        ),
    ],
)
def test_environment_integration_filter(
    client: GraphQLClient,
    installed: Tenant,
    filter_: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    data = client.data(INSTALLS_QUERY, {"filter": filter_}, token=installed.team_token)

    pairs = {
        (node["integration"]["name"], node["environment"]["name"])
        for node in data["environmentIntegrations"]["nodes"]
    }
    assert pairs == expected


def test_environment_integration_filter_by_environment_id(
    client: GraphQLClient, installed: Tenant
) -> None:
    filter_ = {"environmentId": {"eq": str(installed.staging.id)}}

    data = client.data(INSTALLS_QUERY, {"filter": filter_}, token=installed.team_token)

    environments = {
        node["environment"]["name"] for node in data["environmentIntegrations"]["nodes"]
    }
    assert environments == {"staging"}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param({"name": {"eq": "staging"}}, {"staging"}, id="name-eq"),
        pytest.param(
            {"name": {"startsWith": "prod"}}, {"production"}, id="name-starts-with"
        ),
        pytest.param(
            {"name": {"startsWith": "Prod"}}, set(), id="name-starts-with-case"
        ),
        pytest.param(
            {"not": {"name": {"contains": "tag"}}}, {"production"}, id="not-contains"
        ),
    ],
)
def test_environment_filter(
    client: GraphQLClient,
    installed: Tenant,
    filter_: dict[str, Any],
    expected: set[str],
) -> None:
    query = """
    query Environments($filter: EnvironmentFilter) {
      environments(filter: $filter) { nodes { name } }
    }
    """

    data = client.data(query, {"filter": filter_}, token=installed.team_token)

    assert {node["name"] for node in data["environments"]["nodes"]} == expected


def test_environment_filter_by_created_at(
    client: GraphQLClient, installed: Tenant
) -> None:
    query = """
    query Environments($filter: EnvironmentFilter) {
      environments(filter: $filter) { nodes { name } }
    }
    """
    filter_ = {"createdAt": {"gt": installed.production.created_at.isoformat()}}

    data = client.data(query, {"filter": filter_}, token=installed.team_token)

    assert {node["name"] for node in data["environments"]["nodes"]} == {"staging"}


def test_nested_connection_applies_filter(
    client: GraphQLClient, world: FilterWorld
) -> None:
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on Environment {
          integratedAccounts(filter: {status: {eq: ACTIVE}}, first: 100) {
            nodes { id }
          }
        }
      }
    }
    """
    production_id = str(world.tenant.production.id)

    data = client.data(query, {"id": production_id}, token=world.tenant.team_token)

    returned = {node["id"] for node in data["node"]["integratedAccounts"]["nodes"]}
    expected = {
        account.id
        for account in world.accounts
        if account.environment_id == production_id and account.status == "active"
    }
    assert returned == expected
    assert expected
