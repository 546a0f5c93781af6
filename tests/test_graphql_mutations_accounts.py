"""updateIntegratedAccount and deleteIntegratedAccount."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant
from tests.upstream.accounts import event_types

UPDATE = """
mutation ($input: UpdateIntegratedAccountInput!) {
  updateIntegratedAccount(input: $input) {
    integratedAccount { id tenantId isSandbox context updatedAt }
    userErrors { field message code }
  }
}
"""

DELETE = """
mutation ($input: DeleteIntegratedAccountInput!) {
  deleteIntegratedAccount(input: $input) {
    deletedIntegratedAccountId
    userErrors { field message code }
  }
}
"""

STORED_CONTEXT = {
    "api_key": "sk-stored",
    "pin": "1234",
    "oauth": {"token": {"access_token": "at-stored"}, "scope": "read"},
    "org_id": "org-1",
    "region_hint": "us",
}


@pytest.fixture
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.fixture
def account(seeder: Seeder, tenant: Tenant) -> models.IntegratedAccount:
    integration = seeder.integration(
        tenant.team,
        config={
            "base_url": "http://127.0.0.1:9/api",
            "credentials": {
                "config": {"fields": [{"name": "pin", "type": "password"}]}
            },
        },
    )
    install = seeder.install(tenant.production, integration)
    return seeder.account(install, tenant_id="before", context=dict(STORED_CONTEXT))


def _update(client: GraphQLClient, token: str, **fields: Any) -> dict[str, Any]:
    data = client.data(UPDATE, {"input": fields}, token=token)
    payload: dict[str, Any] = data["updateIntegratedAccount"]
    return payload


def _stored(
    seeder: Seeder, account: models.IntegratedAccount
) -> models.IntegratedAccount:
    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    return row


def test_update_changes_tenant_id_and_sandbox(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    payload = _update(
        client, tenant.team_token, id=str(account.id), tenantId="after", isSandbox=True
    )

    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["tenantId"] == "after"
    assert payload["integratedAccount"]["isSandbox"] is True
    stored = _stored(seeder, account)
    assert stored.tenant_id == "after"
    assert stored.is_sandbox is True
    assert stored.updated_at > account.updated_at


def test_update_merges_context_shallowly(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    patch = {"org_id": "org-2", "region_hint": None, "plan": {"tier": "pro"}}

    payload = _update(client, tenant.team_token, id=str(account.id), context=patch)

    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["context"] == {
        "org_id": "org-2",
        "oauth": {"scope": "read"},
        "plan": {"tier": "pro"},
    }
    stored = _stored(seeder, account).context
    assert stored["api_key"] == "sk-stored"
    assert stored["pin"] == "1234"
    assert "region_hint" not in stored


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"tenantId": "before"}, id="same-tenant-id"),
        pytest.param({"isSandbox": False}, id="same-sandbox-flag"),
        pytest.param({"context": {}}, id="empty-context"),
        pytest.param({"context": {"org_id": "org-1"}}, id="same-context-value"),
        pytest.param({"context": {"absent": None}}, id="remove-missing-key"),
        pytest.param(
            {"context": {"oauth": {"scope": "read"}}}, id="same-redacted-object"
        ),
        pytest.param(
            {"tenantId": "before", "isSandbox": False, "context": {"pin": "1234"}},
            id="every-field-same",
        ),
    ],
)
def test_same_values_change_nothing(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
    fields: dict[str, Any],
) -> None:
    payload = _update(client, tenant.team_token, id=str(account.id), **fields)

    assert payload["userErrors"] == []
    returned_at = datetime.fromisoformat(payload["integratedAccount"]["updatedAt"])
    assert returned_at == account.updated_at
    stored = _stored(seeder, account)
    assert stored.updated_at == account.updated_at
    assert stored.context == STORED_CONTEXT
    assert event_types(client, str(account.id), tenant.team_token) == []


def test_partial_change_records_one_event(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    _update(client, tenant.team_token, id=str(account.id), tenantId="before")

    payload = _update(
        client,
        tenant.team_token,
        id=str(account.id),
        tenantId="before",
        context={"org_id": "org-2"},
    )

    assert payload["userErrors"] == []
    assert _stored(seeder, account).updated_at > account.updated_at
    assert event_types(client, str(account.id), tenant.team_token) == [
        "integrated_account:updated"
    ]


def test_replaced_object_keeps_credentials(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    payload = _update(
        client,
        tenant.team_token,
        id=str(account.id),
        context={"oauth": {"scope": "read write"}},
    )

    assert payload["userErrors"] == []
    assert _stored(seeder, account).context["oauth"] == {
        "token": {"access_token": "at-stored"},
        "scope": "read write",
    }


def test_update_can_replace_credential(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    payload = _update(
        client, tenant.team_token, id=str(account.id), context={"api_key": "sk-new"}
    )

    assert payload["userErrors"] == []
    assert "api_key" not in payload["integratedAccount"]["context"]
    assert _stored(seeder, account).context["api_key"] == "sk-new"


def test_update_can_remove_credential(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    payload = _update(
        client, tenant.team_token, id=str(account.id), context={"pin": None}
    )

    assert payload["userErrors"] == []
    assert "pin" not in _stored(seeder, account).context


@pytest.mark.parametrize(
    ("fields", "field_path", "message_part"),
    [
        pytest.param(
            {"context": "not an object"},
            ["input", "context"],
            "must be a JSON object, got a JSON string",
            id="context-string",
        ),
        pytest.param(
            {"context": [1, 2]},
            ["input", "context"],
            "must be a JSON object, got a JSON list",
            id="context-list",
        ),
        pytest.param(
            {"tenantId": "   "}, ["input", "tenantId"], "is blank", id="tenant-id-blank"
        ),
        pytest.param(
            {"tenantId": None},
            ["input", "tenantId"],
            "cannot be null",
            id="tenant-id-null",
        ),
        pytest.param(
            {"tenantId": "t" * 501},
            ["input", "tenantId"],
            "at most 500",
            id="tenant-id-too-long",
        ),
        pytest.param(
            {"isSandbox": None},
            ["input", "isSandbox"],
            "cannot be null",
            id="sandbox-null",
        ),
    ],
)
def test_invalid_update_changes_nothing(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
    fields: dict[str, Any],
    field_path: list[str],
    message_part: str,
) -> None:
    # A valid change rides along; it must not be applied either.
    fields = {"isSandbox": True, **fields}

    payload = _update(client, tenant.team_token, id=str(account.id), **fields)

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == field_path
    assert message_part in error["message"]
    assert payload["integratedAccount"] is None
    stored = _stored(seeder, account)
    assert stored.tenant_id == "before"
    assert stored.is_sandbox is False
    assert stored.context == STORED_CONTEXT


def test_update_reports_every_invalid_field(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    payload = _update(
        client, tenant.team_token, id=str(account.id), tenantId="", context=7
    )

    fields = [error["field"] for error in payload["userErrors"]]
    assert fields == [["input", "tenantId"], ["input", "context"]]


def test_update_of_malformed_id_is_rejected(
    client: GraphQLClient, tenant: Tenant
) -> None:
    payload = _update(client, tenant.team_token, id="abc", tenantId="x")

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "id"]


def test_update_of_missing_account_is_not_found(
    client: GraphQLClient, tenant: Tenant
) -> None:
    missing = str(uuid.uuid4())

    payload = _update(client, tenant.team_token, id=missing, tenantId="x")

    [error] = payload["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert missing in error["message"]


def test_update_of_other_team_account_is_not_found(
    client: GraphQLClient, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    other = make_tenant(seeder)
    missing_id = str(uuid.uuid4())

    foreign = _update(client, other.team_token, id=str(account.id), tenantId="x")
    missing = _update(client, other.team_token, id=missing_id, tenantId="x")

    [foreign_error] = foreign["userErrors"]
    [missing_error] = missing["userErrors"]
    assert foreign_error["code"] == "NOT_FOUND"
    # A foreign id gets the same error as a missing one, apart from the id.
    assert foreign_error["message"].replace(str(account.id), "<id>") == (
        missing_error["message"].replace(missing_id, "<id>")
    )
    assert _stored(seeder, account).tenant_id == "before"


def test_update_from_other_environment_is_not_found(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
) -> None:
    staging_install = seeder.install(tenant.staging, seeder.integration(tenant.team))
    staging_account = seeder.account(staging_install, tenant_id="staging")

    payload = _update(
        client, tenant.production_token, id=str(staging_account.id), tenantId="x"
    )

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert _stored(seeder, staging_account).tenant_id == "staging"


def test_delete_removes_account(
    client: GraphQLClient,
    seeder: Seeder,
    tenant: Tenant,
    account: models.IntegratedAccount,
) -> None:
    data = client.data(
        DELETE, {"input": {"id": str(account.id)}}, token=tenant.team_token
    )

    payload = data["deleteIntegratedAccount"]
    assert payload == {"deletedIntegratedAccountId": str(account.id), "userErrors": []}
    assert seeder.get(models.IntegratedAccount, account.id) is None


def test_delete_twice_is_not_found(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    variables = {"input": {"id": str(account.id)}}
    client.data(DELETE, variables, token=tenant.team_token)

    data = client.data(DELETE, variables, token=tenant.team_token)

    payload = data["deleteIntegratedAccount"]
    assert payload["deletedIntegratedAccountId"] is None
    assert payload["userErrors"][0]["code"] == "NOT_FOUND"


def test_delete_of_other_team_account_is_not_found(
    client: GraphQLClient, seeder: Seeder, account: models.IntegratedAccount
) -> None:
    other = make_tenant(seeder)

    data = client.data(
        DELETE, {"input": {"id": str(account.id)}}, token=other.team_token
    )

    assert data["deleteIntegratedAccount"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert seeder.get(models.IntegratedAccount, account.id) is not None


def test_deleted_account_reads_as_null(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    client.data(DELETE, {"input": {"id": str(account.id)}}, token=tenant.team_token)

    after = client.data(
        "query ($id: ID!) { node(id: $id) { id } }",
        {"id": str(account.id)},
        token=tenant.team_token,
    )

    assert after == {"node": None}


def test_mutation_over_get_is_rejected(
    client: GraphQLClient, tenant: Tenant, account: models.IntegratedAccount
) -> None:
    response = client.http.get(
        "/graphql",
        params={
            "query": "mutation { deleteIntegratedAccount(input: {id: "
            f'"{account.id}"}}) {{ deletedIntegratedAccountId }} }}'
        },
        headers={"authorization": f"Bearer {tenant.team_token}"},
    )

    assert response.status_code in (400, 405)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
