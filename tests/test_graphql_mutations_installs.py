"""installIntegration, updateEnvironmentIntegration and uninstallIntegration."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

INSTALL = """
mutation ($input: InstallIntegrationInput!) {
  installIntegration(input: $input) {
    alreadyInstalled
    environmentIntegration {
      id isEnabled showInCatalog override
      environment { id }
      integration { id }
    }
    userErrors { field message code }
  }
}
"""

UPDATE = """
mutation ($input: UpdateEnvironmentIntegrationInput!) {
  updateEnvironmentIntegration(input: $input) {
    environmentIntegration { id isEnabled showInCatalog override updatedAt }
    userErrors { field message code }
  }
}
"""

EXAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "truto-examples"

UNINSTALL = """
mutation ($input: UninstallIntegrationInput!) {
  uninstallIntegration(input: $input) {
    deletedEnvironmentIntegrationId
    deletedIntegratedAccountCount
    userErrors { field message code }
  }
}
"""


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


def _install(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = client.data(INSTALL, {"input": fields}, token=token)[
        "installIntegration"
    ]
    return payload


def _update(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = client.data(UPDATE, {"input": fields}, token=token)[
        "updateEnvironmentIntegration"
    ]
    return payload


def _uninstall(client: GraphQLClient, token: str, install_id: Any) -> dict[str, Any]:
    payload: dict[str, Any] = client.data(
        UNINSTALL, {"input": {"id": str(install_id)}}, token=token
    )["uninstallIntegration"]
    return payload


def test_install_creates_install(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.staging.id),
        showInCatalog=False,
    )

    assert payload["userErrors"] == []
    assert payload["alreadyInstalled"] is False
    install = payload["environmentIntegration"]
    assert install["environment"] == {"id": str(tenant.staging.id)}
    assert install["integration"] == {"id": str(integration.id)}
    assert install["isEnabled"] is True
    assert install["showInCatalog"] is False
    assert (
        seeder.get(models.EnvironmentIntegration, uuid.UUID(install["id"])) is not None
    )


def test_install_twice_returns_existing_install(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)
    fields = {
        "integrationId": str(integration.id),
        "environmentId": str(tenant.production.id),
    }
    first = _install(client, tenant.team_token, **fields)

    second = _install(client, tenant.team_token, **fields, isEnabled=False)

    assert second["userErrors"] == []
    assert second["alreadyInstalled"] is True
    assert (
        second["environmentIntegration"]["id"] == first["environmentIntegration"]["id"]
    )
    # The existing install is returned unchanged.
    assert second["environmentIntegration"]["isEnabled"] is True


def test_environment_token_installs_into_its_environment(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(
        client, tenant.production_token, integrationId=str(integration.id)
    )

    assert payload["userErrors"] == []
    environment = payload["environmentIntegration"]["environment"]
    assert environment == {"id": str(tenant.production.id)}


def test_team_token_needs_environment_id(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(client, tenant.team_token, integrationId=str(integration.id))

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "environmentId"]


def test_install_into_other_environment_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.production_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.staging.id),
    )

    [error] = payload["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert error["field"] == ["input", "environmentId"]


def test_install_into_other_team_environment_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(other.production.id),
    )

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("sharing", "code"),
    [
        pytest.param("allow", None, id="allow"),
        pytest.param("ask", "NOT_FOUND", id="ask"),
        pytest.param("deny", "NOT_FOUND", id="deny"),
    ],
)
def test_install_of_other_team_integration_follows_sharing(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    sharing: str,
    code: str | None,
) -> None:
    other = make_tenant(seeder)
    integration = seeder.integration(other.team, sharing=sharing)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.production.id),
    )

    codes = [error["code"] for error in payload["userErrors"]]
    assert codes == ([] if code is None else [code])


def test_install_rejects_non_object_override(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.production.id),
        override=["not", "an", "object"],
    )

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "override"]


OVERRIDE_EXAMPLES = sorted(
    path.name
    for path in (EXAMPLES / "configs").glob("*.json")
    if json.loads(path.read_text(encoding="utf-8"))["kind"] == "override"
)


@pytest.mark.parametrize("file_name", OVERRIDE_EXAMPLES)
def test_install_accepts_example_override(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, file_name: str
) -> None:
    example = json.loads((EXAMPLES / "configs" / file_name).read_text(encoding="utf-8"))
    override = example["example"]["override"]
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.production.id),
        override=override,
    )

    assert payload["userErrors"] == []
    stored = seeder.get(
        models.EnvironmentIntegration,
        uuid.UUID(payload["environmentIntegration"]["id"]),
    )
    assert stored is not None
    assert stored.override == override


def test_install_with_invalid_override_names_path(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)

    payload = _install(
        client,
        tenant.team_token,
        integrationId=str(integration.id),
        environmentId=str(tenant.production.id),
        override={"pagination": {"format": "sideways"}},
    )

    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_CONFIG"
    assert error["field"] == ["input", "override", "pagination", "format"]
    assert "'sideways'" in error["message"]
    assert payload["environmentIntegration"] is None


def test_update_with_invalid_override_changes_nothing(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(
        tenant.production,
        seeder.integration(tenant.team),
        override={"headers": {"X-Kept": "1"}},
    )

    payload = _update(
        client,
        tenant.team_token,
        id=str(install.id),
        isEnabled=False,
        override={"error_expression": "$$$ ("},
    )

    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_CONFIG"
    assert error["field"] == ["input", "override", "error_expression"]
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.override == {"headers": {"X-Kept": "1"}}
    assert stored.is_enabled is True


def test_install_with_malformed_integration_id(
    client: GraphQLClient, tenant: Tenant
) -> None:
    payload = _install(
        client,
        tenant.team_token,
        integrationId="zzz",
        environmentId=str(tenant.production.id),
    )

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "integrationId"]


def test_update_changes_flags(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(tenant.production, seeder.integration(tenant.team))

    payload = _update(
        client,
        tenant.team_token,
        id=str(install.id),
        isEnabled=False,
        showInCatalog=False,
    )

    assert payload["userErrors"] == []
    assert payload["environmentIntegration"]["isEnabled"] is False
    assert payload["environmentIntegration"]["showInCatalog"] is False
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.is_enabled is False


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"isEnabled": True}, id="same-enabled-flag"),
        pytest.param({"showInCatalog": True}, id="same-catalog-flag"),
        pytest.param({"override": {}}, id="empty-override-patch"),
        pytest.param({"override": {"headers": {"X-Keep": "2"}}}, id="same-header"),
        pytest.param({"override": {"headers": {"X-Gone": None}}}, id="remove-missing"),
    ],
)
def test_update_with_same_values_keeps_updated_at(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, fields: dict[str, Any]
) -> None:
    install = seeder.install(
        tenant.production,
        seeder.integration(tenant.team),
        override={"headers": {"X-Keep": "2"}},
    )

    payload = _update(client, tenant.team_token, id=str(install.id), **fields)

    assert payload["userErrors"] == []
    returned = payload["environmentIntegration"]
    assert datetime.fromisoformat(returned["updatedAt"]) == install.updated_at
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.updated_at == install.updated_at
    assert stored.override == {"headers": {"X-Keep": "2"}}


def test_update_with_new_value_bumps_updated_at(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(tenant.production, seeder.integration(tenant.team))

    payload = _update(
        client,
        tenant.team_token,
        id=str(install.id),
        isEnabled=True,
        showInCatalog=False,
    )

    assert payload["userErrors"] == []
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.updated_at > install.updated_at


def test_update_merges_override_and_keeps_secrets(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    stored_override = {
        "credentials": {
            "format": "oauth2",
            "config": {"client": {"id": "cid", "secret": "cs-stored"}},
        },
        "headers": {"X-Old": "1", "X-Keep": "2"},
    }
    install = seeder.install(
        tenant.production, seeder.integration(tenant.team), override=stored_override
    )
    patch = {
        "credentials": {"config": {"client": {"id": "cid-2"}}},
        "headers": {"X-Old": None},
    }

    payload = _update(client, tenant.team_token, id=str(install.id), override=patch)

    assert payload["userErrors"] == []
    assert payload["environmentIntegration"]["override"] == {
        "credentials": {"format": "oauth2", "config": {"client": {"id": "cid-2"}}},
        "headers": {"X-Keep": "2"},
    }
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.override["credentials"]["config"]["client"]["secret"] == "cs-stored"


def test_update_rejects_null_flag(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(tenant.production, seeder.integration(tenant.team))

    payload = _update(client, tenant.team_token, id=str(install.id), isEnabled=None)

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "isEnabled"]


def test_update_of_other_team_install_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    install = seeder.install(other.production, seeder.integration(other.team))

    payload = _update(client, tenant.team_token, id=str(install.id), isEnabled=False)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    stored = seeder.get(models.EnvironmentIntegration, install.id)
    assert stored is not None
    assert stored.is_enabled is True


def test_uninstall_removes_install_and_accounts(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    integration = seeder.integration(tenant.team)
    install = seeder.install(tenant.production, integration)
    kept_install = seeder.install(tenant.staging, integration)
    removed = [seeder.account(install) for _ in range(3)]
    kept_account = seeder.account(kept_install)

    payload = _uninstall(client, tenant.team_token, install.id)

    assert payload == {
        "deletedEnvironmentIntegrationId": str(install.id),
        "deletedIntegratedAccountCount": 3,
        "userErrors": [],
    }
    assert seeder.get(models.EnvironmentIntegration, install.id) is None
    assert all(seeder.get(models.IntegratedAccount, row.id) is None for row in removed)
    assert seeder.get(models.IntegratedAccount, kept_account.id) is not None


def test_uninstall_from_other_environment_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    install = seeder.install(tenant.staging, seeder.integration(tenant.team))

    payload = _uninstall(client, tenant.production_token, install.id)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["deletedEnvironmentIntegrationId"] is None
    assert seeder.get(models.EnvironmentIntegration, install.id) is not None
