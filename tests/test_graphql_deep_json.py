"""Depth and size limits of JSON inputs, and reads of deeply nested rows."""

from __future__ import annotations

from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

UPDATE_ACCOUNT = """
mutation ($input: UpdateIntegratedAccountInput!) {
  updateIntegratedAccount(input: $input) {
    integratedAccount { id context }
    userErrors { field message code }
  }
}
"""

CREATE_INTEGRATION = """
mutation ($input: CreateIntegrationInput!) {
  createIntegration(input: $input) {
    integration { id }
    userErrors { field message code }
  }
}
"""

ACCOUNT_CONTEXTS = "{ integratedAccounts { nodes { id context } } }"
INTEGRATION_CONFIGS = "{ integrations(first: 100) { nodes { id config } } }"
OWN_INTEGRATIONS = "{ integrations(first: 100) { nodes { ownedByViewer } } }"


def nested(levels: int, leaf: Any = "x") -> Any:
    """Build an object nested `levels` levels deep: {"a": {"a": ... leaf}}."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def nested_literal(levels: int) -> str:
    """Write `nested(levels)` as a GraphQL object literal."""
    return "{a: " * levels + '"x"' + "}" * levels


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.fixture
def account(seeder: Seeder, tenant: Tenant) -> models.IntegratedAccount:
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    return seeder.account(install, context={"org": "o"})


def test_context_at_depth_limit_is_stored(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    context = {"deep": nested(31)}

    data = client.data(
        UPDATE_ACCOUNT,
        {"input": {"id": str(account.id), "context": context}},
        token=tenant.team_token,
    )

    payload = data["updateIntegratedAccount"]
    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["context"]["deep"] == nested(31)


# The GraphQL parser rejects literals nested much deeper than 150 levels
# before any resolver runs.
@pytest.mark.parametrize(
    "levels", [pytest.param(33, id="33"), pytest.param(150, id="150")]
)
def test_deep_context_literal_is_rejected(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
    levels: int,
) -> None:
    document = f"""
    mutation {{
      updateIntegratedAccount(input: {{
        id: "{account.id}", context: {{deep: {nested_literal(levels)}}}
      }}) {{ userErrors {{ field message code }} }}
    }}
    """

    data = client.data(document, token=tenant.team_token)

    errors = data["updateIntegratedAccount"]["userErrors"]
    assert len(errors) == 1
    assert errors[0]["code"] == "BAD_USER_INPUT"
    assert errors[0]["field"] == ["input", "context"]
    assert "more than 32 levels" in errors[0]["message"]
    stored = seeder.get(models.IntegratedAccount, account.id)
    assert stored is not None
    assert stored.context == {"org": "o"}


def test_oversized_context_is_rejected(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    context = {"blob": "x" * (600 * 1024)}

    data = client.data(
        UPDATE_ACCOUNT,
        {"input": {"id": str(account.id), "context": context}},
        token=tenant.team_token,
    )

    errors = data["updateIntegratedAccount"]["userErrors"]
    assert len(errors) == 1
    assert errors[0]["code"] == "BAD_USER_INPUT"
    assert "at most 524288 bytes" in errors[0]["message"]


def test_deep_config_is_rejected_before_storing(
    client: GraphQLClient, tenant: Tenant
) -> None:
    config = {"base_url": "http://127.0.0.1:9/api", "unknown": nested(40)}

    data = client.data(
        CREATE_INTEGRATION,
        {"input": {"name": "deep", "category": "crm", "config": config}},
        token=tenant.team_token,
    )

    errors = data["createIntegration"]["userErrors"]
    assert [error["field"] for error in errors] == [["input", "config"]]
    assert errors[0]["code"] == "BAD_USER_INPUT"
    listed = client.data(OWN_INTEGRATIONS, token=tenant.team_token)
    owned = [node for node in listed["integrations"]["nodes"] if node["ownedByViewer"]]
    assert owned == []


def test_huge_integer_in_context_is_rejected(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    document = f"""
    mutation {{
      updateIntegratedAccount(input: {{
        id: "{account.id}", context: {{n: {10**30}}}
      }}) {{ userErrors {{ field message code }} }}
    }}
    """

    data = client.data(document, token=tenant.team_token)

    errors = data["updateIntegratedAccount"]["userErrors"]
    assert [error["code"] for error in errors] == ["BAD_USER_INPUT"]
    assert "64-bit" in errors[0]["message"]


def test_deep_stored_rows_read_cut_off(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(
        tenant.team,
        config={"base_url": "http://127.0.0.1:9/api", "unknown": nested(300)},
    )
    install = seeder.install(tenant.production, integration)
    seeder.account(install, context={"deep": nested(300), "org": "o"})

    configs = client.data(INTEGRATION_CONFIGS, token=tenant.team_token)
    contexts = client.data(ACCOUNT_CONTEXTS, token=tenant.team_token)

    nodes = configs["integrations"]["nodes"]
    config = next(node for node in nodes if node["id"] == str(integration.id))["config"]
    assert config["base_url"] == "http://127.0.0.1:9/api"
    assert config["unknown"] == nested(63, None)
    context = contexts["integratedAccounts"]["nodes"][0]["context"]
    assert context["org"] == "o"
    assert context["deep"] == nested(63, None)
