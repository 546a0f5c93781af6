"""createIntegratedAccount: checks, post-install, validation and statuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient, Seeder
from tests.upstream.accounts import (
    api_key_config,
    client_credentials_config,
    create_account,
    event_types,
    install,
    oauth_config,
    oauth_context,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]


def api_key_account(vendor: Vendor, scopes: set[str] | None = None) -> dict[str, Any]:
    vendor.api_keys[API_KEY] = {"read"} if scopes is None else scopes
    return {"api_key": API_KEY}


def test_create_runs_post_install_and_validation(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream))

    account = payload["integratedAccount"]
    assert payload["userErrors"] == []
    assert account["status"] == "ACTIVE"
    assert account["lastError"] is None
    assert account["context"] == {"org_id": "org_123"}
    assert account["lastValidatedAt"] is not None
    assert [hit.path for hit in upstream.requests] == ["/api/account", "/api/me"]


def test_create_records_each_step(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream))

    result = payload["integratedAccount"]["lastActionResult"]
    steps = [
        (step["action"], step["name"], step["request_method"], step["status"])
        for step in result["steps"]
    ]
    assert result["operation"] == "create"
    assert result["ok"] is True
    assert steps == [
        ("post_install", "account", "GET", 200),
        ("post_install", None, None, None),
        ("validation", "me", "GET", 200),
    ]
    assert result["steps"][0]["request_path"] == f"/{upstream.namespace}/api/account"
    assert all(step["outcome"] == "ok" for step in result["steps"])
    assert all(step["duration_ms"] >= 0 for step in result["steps"])


def test_create_emits_created_then_active(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream))

    names = event_types(client, payload["integratedAccount"]["id"], installed.token)
    assert names == ["integrated_account:created", "integrated_account:active"]


@pytest.mark.parametrize(
    ("scopes", "code", "upstream_status"),
    [
        pytest.param(None, "INVALID_CREDENTIALS", 401, id="unknown-key-401"),
        pytest.param({"write"}, "MISSING_PERMISSIONS", 403, id="missing-scope-403"),
    ],
)
def test_failed_validation_ends_in_validation_error(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    scopes: set[str] | None,
    code: str,
    upstream_status: int,
) -> None:
    installed = install(
        seeder,
        api_key_config(
            upstream,
            actions={
                "validation": {
                    "steps": [
                        {"type": "request", "name": "me", "config": {"path": "/me"}}
                    ]
                }
            },
        ),
    )
    context = (
        {"api_key": "key-unknown"}
        if scopes is None
        else api_key_account(upstream, scopes)
    )

    payload = create_account(client, installed, context)

    account = payload["integratedAccount"]
    assert account["status"] == "VALIDATION_ERROR"
    assert account["lastError"].startswith("The validation action failed:")
    assert [error["code"] for error in payload["userErrors"]] == [code]
    assert account["lastActionResult"]["steps"][-1]["status"] == upstream_status
    assert event_types(client, account["id"], installed.token) == [
        "integrated_account:created",
        "integrated_account:validation_error",
    ]


def test_failed_post_install_skips_validation(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.script("/api/account", Reply(500, json={"message": "boom"}))
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream))

    account = payload["integratedAccount"]
    assert account["status"] == "POST_INSTALL_ERROR"
    assert "post-install action failed" in account["lastError"]
    assert upstream.hits("/api/me") == []
    assert account["lastActionResult"]["failed_step"] == "post_install"
    assert event_types(client, account["id"], installed.token)[-1] == (
        "integrated_account:post_install_error"
    )


def test_secrets_stay_out_of_payload_and_events(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream))

    account_id = payload["integratedAccount"]["id"]
    assert "api_key" not in payload["integratedAccount"]["context"]
    events = client.data(
        """query($id: ID!) { node(id: $id) { ... on IntegratedAccount {
            events { nodes { account } } } } }""",
        {"id": account_id},
        token=installed.token,
    )["node"]["events"]["nodes"]
    for event in events:
        assert API_KEY not in str(event["account"])
        assert event["account"]["id"] == account_id


@pytest.mark.parametrize(
    ("context", "field", "message"),
    [
        pytest.param({}, "api_key", "is missing", id="missing-required"),
        pytest.param(
            {"api_key": "secret"}, "api_key", "does not match the pattern", id="pattern"
        ),
        pytest.param(
            {"api_key": API_KEY, "admin_email": "nobody"},
            "admin_email",
            "expected an e-mail address",
            id="format",
        ),
        pytest.param({"api_key": 42}, "api_key", "expected a string", id="type"),
    ],
)
def test_bad_credential_fields_store_nothing(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    context: dict[str, Any],
    field: str,
    message: str,
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, context)

    assert payload["integratedAccount"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "context", field]
    assert message in error["message"]
    assert upstream.requests == []


def test_oauth_account_without_token_is_rejected(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))

    payload = create_account(client, installed, {"oauth": {"token": {}}})

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert "context.oauth.token.access_token" in error["message"]


def test_oauth_token_expiry_is_stored(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))

    payload = create_account(client, installed, oauth_context(upstream))

    account = payload["integratedAccount"]
    assert account["status"] == "ACTIVE"
    assert account["authenticationMethod"] == "OAUTH2"
    assert account["credentialsExpireAt"] is not None
    assert upstream.hits("/oauth/token") == []


def test_client_credentials_token_comes_first(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, client_credentials_config(upstream))
    context = {
        "client_id": upstream.oauth.client_id,
        "client_secret": upstream.oauth.client_secret,
    }

    payload = create_account(client, installed, context)

    account = payload["integratedAccount"]
    assert account["status"] == "ACTIVE"
    assert [hit.path for hit in upstream.requests] == ["/oauth/token", "/api/me"]
    assert account["lastRefreshedAt"] is not None
    assert account["credentialsExpireAt"] is not None
    assert account["lastActionResult"]["steps"][0]["action"] == "token"


def test_bad_client_secret_stores_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, client_credentials_config(upstream))
    context = {"client_id": upstream.oauth.client_id, "client_secret": "wrong"}

    payload = create_account(client, installed, context)

    assert payload["integratedAccount"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_CREDENTIALS"
    assert "invalid_client" in error["message"]
    assert "wrong" not in error["message"]


def test_foreign_install_is_not_found(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))
    stranger = install(seeder, api_key_config(upstream))

    payload = create_account(
        client, installed, api_key_account(upstream), token=stranger.token
    )

    assert payload["integratedAccount"] is None
    assert [(error["field"], error["code"]) for error in payload["userErrors"]] == [
        (["input", "environmentIntegrationId"], "NOT_FOUND")
    ]
    assert upstream.requests == []


def test_disabled_install_is_rejected(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))
    installed.install.is_enabled = False
    seeder.add(installed.install)

    payload = create_account(client, installed, api_key_account(upstream))

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert "is disabled" in error["message"]


def test_mismatched_authentication_method_is_rejected(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(
        client, installed, api_key_account(upstream), authenticationMethod="OAUTH2"
    )

    [error] = payload["userErrors"]
    assert error["field"] == ["input", "authenticationMethod"]
    assert "does not match the integration's credentials format" in error["message"]


def test_blank_tenant_id_is_rejected(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = create_account(client, installed, api_key_account(upstream), tenantId=" ")

    [error] = payload["userErrors"]
    assert error["field"] == ["input", "tenantId"]
    assert error["code"] == "BAD_USER_INPUT"


def test_bad_pattern_in_config_is_invalid_config(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    config = api_key_config(upstream)
    config["credentials"]["config"]["fields"][0]["pattern"] = "key-("
    installed = install(seeder, config)

    payload = create_account(client, installed, api_key_account(upstream))

    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_CONFIG"
    assert "credentials.config.fields.0.pattern" in error["message"]


def test_sandbox_lifecycle_may_write(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    actions = {
        "post_install": {
            "steps": [
                {
                    "type": "request",
                    "name": "register",
                    "config": {"method": "post", "path": "/contacts", "body": {}},
                }
            ]
        },
        "validation": {"steps": [{"type": "request", "config": {"path": "/me"}}]},
    }
    installed = install(seeder, api_key_config(upstream, actions=actions))

    payload = create_account(
        client, installed, api_key_account(upstream), isSandbox=True
    )

    account = payload["integratedAccount"]
    assert account["isSandbox"] is True
    assert account["status"] == "ACTIVE"
    assert [hit.method for hit in upstream.hits("/api/contacts")] == ["POST"]
