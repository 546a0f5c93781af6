"""createIntegration, updateIntegration and deleteIntegration."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

EXAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "truto-examples"

INTEGRATION_FIELDS = "id name category isBeta sharing version config updatedAt"

CREATE = f"""
mutation ($input: CreateIntegrationInput!) {{
  createIntegration(input: $input) {{
    integration {{ {INTEGRATION_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

UPDATE = f"""
mutation ($input: UpdateIntegrationInput!) {{
  updateIntegration(input: $input) {{
    integration {{ {INTEGRATION_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

DELETE = """
mutation ($input: DeleteIntegrationInput!) {
  deleteIntegration(input: $input) {
    deletedIntegrationId
    deletedEnvironmentIntegrationCount
    deletedIntegratedAccountCount
    userErrors { field message code }
  }
}
"""


def _example_config(name: str) -> dict[str, Any]:
    document = json.loads((EXAMPLES / "configs" / name).read_text(encoding="utf-8"))
    config: dict[str, Any] = document["example"]
    # Point the example at an address that nothing listens on.
    config["base_url"] = "http://127.0.0.1:9/v1"
    return config


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


def _create(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", f"made-{uuid.uuid4().hex[:8]}")
    fields.setdefault("category", "crm")
    fields.setdefault("config", _example_config("01-acme-crm-init-scaffold.json"))
    payload: dict[str, Any] = client.data(CREATE, {"input": fields}, token=token)[
        "createIntegration"
    ]
    return payload


def _update(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = client.data(UPDATE, {"input": fields}, token=token)[
        "updateIntegration"
    ]
    return payload


def _delete(client: GraphQLClient, token: str, integration_id: Any) -> dict[str, Any]:
    payload: dict[str, Any] = client.data(
        DELETE, {"input": {"id": str(integration_id)}}, token=token
    )["deleteIntegration"]
    return payload


def _stored(seeder: Seeder, integration_id: Any) -> models.Integration:
    row = seeder.get(models.Integration, uuid.UUID(str(integration_id)))
    assert row is not None
    return row


# createIntegration


def test_create_stores_integration(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    config = _example_config("01-acme-crm-init-scaffold.json")

    payload = _create(
        client,
        tenant.team_token,
        name="Acme CRM",
        category="crm",
        isBeta=True,
        sharing="ALLOW",
        config=config,
    )

    assert payload["userErrors"] == []
    integration = payload["integration"]
    assert integration["name"] == "Acme CRM"
    assert integration["isBeta"] is True
    assert integration["sharing"] == "ALLOW"
    assert integration["version"] == 1
    stored = _stored(seeder, integration["id"])
    assert stored.team_id == tenant.team.id
    assert stored.config == config


@pytest.mark.parametrize(
    "file_name",
    ["01-acme-crm-init-scaffold.json", "02-acme-crm-edited.json"],
)
def test_create_accepts_example_config(
    client: GraphQLClient, tenant: Tenant, file_name: str
) -> None:
    payload = _create(client, tenant.team_token, config=_example_config(file_name))

    assert payload["userErrors"] == []
    assert payload["integration"]["version"] == 1


def test_create_returns_config_without_secrets(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    config = _example_config("01-acme-crm-init-scaffold.json")
    config["credentials"]["config"]["client"] = {"id": "cid", "secret": "cs-1"}

    payload = _create(client, tenant.team_token, config=config)

    returned = payload["integration"]["config"]
    assert returned["credentials"]["config"]["client"] == {"id": "cid"}
    assert "secret" not in returned["webhook"]["signature_verification"]["config"]
    stored = _stored(seeder, payload["integration"]["id"])
    assert stored.config["credentials"]["config"]["client"]["secret"] == "cs-1"


def test_create_with_taken_name_already_exists(
    client: GraphQLClient, tenant: Tenant
) -> None:
    _create(client, tenant.team_token, name="twice")

    payload = _create(client, tenant.team_token, name="twice")

    [error] = payload["userErrors"]
    assert error["code"] == "ALREADY_EXISTS"
    assert error["field"] == ["input", "name"]
    assert payload["integration"] is None


def test_same_name_in_other_team_is_allowed(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    _create(client, other.team_token, name="shared-name")

    payload = _create(client, tenant.team_token, name="shared-name")

    assert payload["userErrors"] == []


def test_create_with_environment_token_is_forbidden(
    client: GraphQLClient, tenant: Tenant
) -> None:
    payload = _create(client, tenant.production_token)

    [error] = payload["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert "team token" in error["message"]


def test_create_with_invalid_config_names_path(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    config = _example_config("01-acme-crm-init-scaffold.json")
    config["resources"]["contacts"]["list"]["pagination"]["format"] = "sideways"

    payload = _create(client, tenant.team_token, name="broken", config=config)

    assert payload["integration"] is None
    assert payload["userErrors"]
    for error in payload["userErrors"]:
        assert error["code"] == "INVALID_CONFIG"
    paths = [error["field"] for error in payload["userErrors"]]
    pagination = ["input", "config", "resources", "contacts", "list", "pagination"]
    assert [*pagination, "format"] in paths
    messages = " ".join(error["message"] for error in payload["userErrors"])
    assert "'sideways'" in messages


def test_invalid_config_creates_nothing(client: GraphQLClient, tenant: Tenant) -> None:
    _create(client, tenant.team_token, name="never", config={"base_url": 42})

    data = client.data(
        '{ integrations(filter: {name: {eq: "never"}}) { totalCount } }',
        token=tenant.team_token,
    )

    assert data["integrations"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("fields", "field_path", "code"),
    [
        pytest.param(
            {"config": "text"},
            ["input", "config"],
            "BAD_USER_INPUT",
            id="config-string",
        ),
        pytest.param(
            {"config": [1]}, ["input", "config"], "BAD_USER_INPUT", id="config-list"
        ),
        pytest.param(
            {"name": " "}, ["input", "name"], "BAD_USER_INPUT", id="name-blank"
        ),
        pytest.param(
            {"name": "n" * 201}, ["input", "name"], "BAD_USER_INPUT", id="name-too-long"
        ),
        pytest.param(
            {"category": ""},
            ["input", "category"],
            "BAD_USER_INPUT",
            id="category-empty",
        ),
    ],
)
def test_create_rejects_bad_input(
    client: GraphQLClient,
    tenant: Tenant,
    fields: dict[str, Any],
    field_path: list[str],
    code: str,
) -> None:
    payload = _create(client, tenant.team_token, **fields)

    [error] = payload["userErrors"]
    assert error["code"] == code
    assert error["field"] == field_path


# updateIntegration


@pytest.fixture
def owned(seeder: Seeder, tenant: Tenant) -> models.Integration:
    config = _example_config("01-acme-crm-init-scaffold.json")
    config["credentials"]["config"]["client"] = {"id": "cid", "secret": "cs-stored"}
    return seeder.integration(tenant.team, "owned", config=config)


def test_update_merges_config_and_raises_version(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    patch = {
        "label": "Acme CRM v2",
        "webhook": None,
        "credentials": {"config": {"client": {"id": "cid-2"}}},
    }

    payload = _update(
        client, tenant.team_token, id=str(owned.id), version=1, config=patch
    )

    assert payload["userErrors"] == []
    assert payload["integration"]["version"] == 2
    stored = _stored(seeder, owned.id)
    assert stored.version == 2
    assert stored.config["label"] == "Acme CRM v2"
    assert "webhook" not in stored.config
    assert stored.config["credentials"]["config"]["client"] == {
        "id": "cid-2",
        "secret": "cs-stored",
    }
    assert stored.config["resources"] == owned.config["resources"]


def test_update_changes_plain_fields(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    payload = _update(
        client,
        tenant.team_token,
        id=str(owned.id),
        version=1,
        name="renamed",
        category="sales",
        isBeta=True,
        sharing="ALLOW",
    )

    assert payload["userErrors"] == []
    stored = _stored(seeder, owned.id)
    assert (stored.name, stored.category, stored.is_beta, stored.sharing) == (
        "renamed",
        "sales",
        True,
        "allow",
    )
    assert stored.updated_at > owned.updated_at


def test_stale_version_is_a_conflict(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    _update(client, tenant.team_token, id=str(owned.id), version=1, category="first")

    payload = _update(
        client, tenant.team_token, id=str(owned.id), version=1, category="second"
    )

    [error] = payload["userErrors"]
    assert error["code"] == "VERSION_CONFLICT"
    assert error["field"] == ["input", "version"]
    assert "version 2" in error["message"]
    stored = _stored(seeder, owned.id)
    assert stored.category == "first"
    assert stored.version == 2


def test_update_with_invalid_config_changes_nothing(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    patch = {
        "resources": {"contacts": {"list": {"pagination": {"format": "sideways"}}}}
    }

    payload = _update(
        client, tenant.team_token, id=str(owned.id), version=1, config=patch, name="x"
    )

    assert payload["userErrors"]
    assert {error["code"] for error in payload["userErrors"]} == {"INVALID_CONFIG"}
    stored = _stored(seeder, owned.id)
    assert stored.version == 1
    assert stored.name == "owned"
    assert stored.config == owned.config


def test_rename_to_taken_name_already_exists(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    seeder.integration(tenant.team, "taken")

    payload = _update(
        client, tenant.team_token, id=str(owned.id), version=1, name="taken"
    )

    assert payload["userErrors"][0]["code"] == "ALREADY_EXISTS"


def test_update_of_shared_foreign_integration_is_forbidden(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    shared = seeder.integration(other.team, sharing="allow")

    payload = _update(
        client, tenant.team_token, id=str(shared.id), version=1, category="mine"
    )

    assert payload["userErrors"][0]["code"] == "FORBIDDEN"
    assert _stored(seeder, shared.id).category == "crm"


def test_update_of_private_foreign_integration_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    private = seeder.integration(other.team)

    payload = _update(
        client, tenant.team_token, id=str(private.id), version=1, category="mine"
    )

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"


def test_update_with_environment_token_is_forbidden(
    client: GraphQLClient, tenant: Tenant, owned: models.Integration
) -> None:
    payload = _update(
        client, tenant.production_token, id=str(owned.id), version=1, category="x"
    )

    assert payload["userErrors"][0]["code"] == "FORBIDDEN"


def test_update_rejects_null_sharing(
    client: GraphQLClient, tenant: Tenant, owned: models.Integration
) -> None:
    payload = _update(
        client, tenant.team_token, id=str(owned.id), version=1, sharing=None
    )

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "sharing"]


# deleteIntegration


def test_delete_removes_installs_and_accounts(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant, owned: models.Integration
) -> None:
    production = seeder.install(tenant.production, owned)
    staging = seeder.install(tenant.staging, owned)
    accounts = [seeder.account(production), seeder.account(staging)]

    payload = _delete(client, tenant.team_token, owned.id)

    assert payload == {
        "deletedIntegrationId": str(owned.id),
        "deletedEnvironmentIntegrationCount": 2,
        "deletedIntegratedAccountCount": 2,
        "userErrors": [],
    }
    assert seeder.get(models.Integration, owned.id) is None
    assert seeder.get(models.EnvironmentIntegration, production.id) is None
    assert all(seeder.get(models.IntegratedAccount, row.id) is None for row in accounts)


def test_delete_while_other_team_installed_it_is_forbidden(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    shared = seeder.integration(tenant.team, sharing="allow")
    other = make_tenant(seeder)
    foreign_install = seeder.install(other.production, shared)

    payload = _delete(client, tenant.team_token, shared.id)

    [error] = payload["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert seeder.get(models.EnvironmentIntegration, foreign_install.id) is not None


def test_delete_of_foreign_integration_is_not_found(
    client: GraphQLClient, seeder: Seeder, tenant: Tenant
) -> None:
    other = make_tenant(seeder)
    private = seeder.integration(other.team)

    payload = _delete(client, tenant.team_token, private.id)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert seeder.get(models.Integration, private.id) is not None
