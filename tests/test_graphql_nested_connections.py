"""Nested connections of an environment or integration list only its own rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant


@dataclass
class Grid:
    """Two integrations installed in two environments, one account per install.

    `installs` and `accounts` are keyed by (environment, integration) name.
    """

    tenant: Tenant
    integrations: dict[str, models.Integration]
    installs: dict[tuple[str, str], models.EnvironmentIntegration]
    accounts: dict[tuple[str, str], models.IntegratedAccount]


@pytest.fixture(scope="module")
def grid(seeder: Seeder) -> Grid:
    tenant = make_tenant(seeder)
    environments = {"production": tenant.production, "staging": tenant.staging}
    integrations = {
        name: seeder.integration(tenant.team, f"nested-{name}")
        for name in ("crm", "hris")
    }
    installs = {
        (environment, integration): seeder.install(
            environments[environment], integrations[integration]
        )
        for environment in environments
        for integration in integrations
    }
    accounts = {key: seeder.account(install) for key, install in installs.items()}
    return Grid(tenant, integrations, installs, accounts)


def _parent_id(grid: Grid, parent: str) -> str:
    kind, name = parent.split(":")
    if kind == "environment":
        environment = getattr(grid.tenant, name)
        return str(environment.id)
    return str(grid.integrations[name].id)


def _expected_ids(grid: Grid, field: str, parent: str) -> set[str]:
    kind, name = parent.split(":")
    position = 0 if kind == "environment" else 1
    rows = grid.installs if field == "environmentIntegrations" else grid.accounts
    return {str(row.id) for key, row in rows.items() if key[position] == name}


@pytest.mark.parametrize(
    ("parent_type", "parent", "field"),
    [
        pytest.param(
            "Environment",
            "environment:production",
            "environmentIntegrations",
            id="environment-installs",
        ),
        pytest.param(
            "Environment",
            "environment:staging",
            "integratedAccounts",
            id="environment-accounts",
        ),
        pytest.param(
            "Integration",
            "integration:crm",
            "environmentIntegrations",
            id="integration-installs",
        ),
        pytest.param(
            "Integration",
            "integration:hris",
            "integratedAccounts",
            id="integration-accounts",
        ),
    ],
)
def test_nested_connection_lists_parent_rows(
    client: GraphQLClient, grid: Grid, parent_type: str, parent: str, field: str
) -> None:
    query = f"""
    query ($id: ID!) {{
      node(id: $id) {{
        ... on {parent_type} {{ {field} {{ totalCount nodes {{ id }} }} }}
      }}
    }}
    """

    data = client.data(
        query, {"id": _parent_id(grid, parent)}, token=grid.tenant.team_token
    )

    connection = data["node"][field]
    expected = _expected_ids(grid, field, parent)
    assert {node["id"] for node in connection["nodes"]} == expected
    assert connection["totalCount"] == len(expected)
