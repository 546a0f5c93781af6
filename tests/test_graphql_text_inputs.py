"""Control characters in tenant ids and names."""

from __future__ import annotations

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

UPDATE_ACCOUNT = """
mutation ($input: UpdateIntegratedAccountInput!) {
  updateIntegratedAccount(input: $input) {
    integratedAccount { tenantId }
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


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.mark.parametrize(
    ("tenant_id", "code_point"),
    [
        pytest.param("acme\x00evil", "U+0000", id="nul"),
        pytest.param("acme\nevil", "U+000A", id="line-feed"),
        pytest.param("acme\x1b[2J", "U+001B", id="escape"),
    ],
)
def test_tenant_id_with_control_character_is_rejected(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    tenant_id: str,
    code_point: str,
) -> None:
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    account = seeder.account(install, tenant_id="before")

    data = client.data(
        UPDATE_ACCOUNT,
        {"input": {"id": str(account.id), "tenantId": tenant_id}},
        token=tenant.team_token,
    )

    errors = data["updateIntegratedAccount"]["userErrors"]
    assert [error["field"] for error in errors] == [["input", "tenantId"]]
    assert errors[0]["code"] == "BAD_USER_INPUT"
    assert code_point in errors[0]["message"]
    stored = seeder.get(models.IntegratedAccount, account.id)
    assert stored is not None
    assert stored.tenant_id == "before"


def test_integration_name_with_nul_is_rejected(
    client: GraphQLClient, tenant: Tenant
) -> None:
    data = client.data(
        CREATE_INTEGRATION,
        {
            "input": {
                "name": "crm\x00",
                "category": "crm",
                "config": {"base_url": "http://127.0.0.1:9/api"},
            }
        },
        token=tenant.team_token,
    )

    errors = data["createIntegration"]["userErrors"]
    assert [error["field"] for error in errors] == [["input", "name"]]
    assert "U+0000" in errors[0]["message"]
