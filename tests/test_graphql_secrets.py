"""Credentials and client secrets never appear in responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphql_api.secrets import (
    carry_over_secrets,
    declared_password_fields,
    is_secret_key,
    redact_config,
    redact_context,
    redact_value,
)
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

EXAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "truto-examples"


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "apiKey",
        "X-Api-Key",
        "api_token",
        "token",
        "access_token",
        "refreshToken",
        "id_token",
        "password",
        "db_password",
        "secret",
        "client_secret",
        "clientSecret",
        "webhook_secret",
        "private_key",
        "secretAccessKey",
        "APIKEY",
    ],
)
def test_secret_key_names_are_recognised(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "base_url",
        "token_url",
        "tokenHost",
        "tokenPath",
        "token_type",
        "client_id",
        "username",
        "org_id",
        "scope",
        "key",
        "expires_at",
        "header_name",
    ],
)
def test_plain_key_names_are_kept(name: str) -> None:
    assert not is_secret_key(name)


def test_redact_context_removes_credentials() -> None:
    context = {
        "api_key": "k-1",
        "org_id": "org-7",
        "oauth": {
            "token": {"access_token": "a", "refresh_token": "r", "expires_at": "x"},
            "scope": "read",
        },
        "nested": [{"password": "p", "user": "u"}],
    }

    redacted = redact_context(context, {})

    assert redacted == {
        "org_id": "org-7",
        "oauth": {"scope": "read"},
        "nested": [{"user": "u"}],
    }


def test_redact_context_removes_declared_password_fields() -> None:
    config = {
        "credentials": {
            "format": "api_key",
            "config": {
                "fields": [
                    {"name": "pin", "type": "password"},
                    {"name": "subdomain", "type": "text"},
                ]
            },
        }
    }
    override = {
        "credentials": {"config": {"fields": [{"name": "otp", "type": "password"}]}}
    }
    context = {"pin": "1234", "otp": "999", "subdomain": "acme"}

    redacted = redact_context(context, config, override)

    assert redacted == {"subdomain": "acme"}


def test_redact_context_leaves_input_unchanged() -> None:
    context = {"api_key": "k", "org": "o"}

    redact_context(context, None)

    assert context == {"api_key": "k", "org": "o"}


def test_declared_password_fields_of_example_configs() -> None:
    basic = json.loads(
        (
            EXAMPLES / "configs" / "04-credentials-basic-username-password.json"
        ).read_text()
    )
    client_credentials = json.loads(
        (
            EXAMPLES / "configs" / "06-credentials-oauth2-client-credentials.json"
        ).read_text()
    )

    assert declared_password_fields(basic["example"]) == {"password"}
    assert declared_password_fields(client_credentials["example"]) == {"client_secret"}


def test_redact_config_removes_oauth_client_secret() -> None:
    example = json.loads(
        (EXAMPLES / "configs" / "05-credentials-oauth2.json").read_text()
    )

    redacted = redact_config(example["example"])

    client = redacted["credentials"]["config"]["client"]
    assert client == {"id": "<truto-managed-client-id>"}
    assert (
        redacted["credentials"]["config"]["auth"]["tokenHost"]
        == "https://auth.acme.com"
    )


def test_redact_config_removes_webhook_secret() -> None:
    example = json.loads(
        (EXAMPLES / "configs" / "19-webhook-hmac-signature.json").read_text()
    )

    redacted = redact_config(example["example"])

    signature = redacted["webhook"]["signature_verification"]["config"]
    assert "secret" not in signature
    assert signature["algorithm"] == "sha256"


def test_redact_value_walks_lists() -> None:
    value = [{"token": "t", "id": 1}, "plain", [{"clientSecret": "s"}]]

    assert redact_value(value) == [{"id": 1}, "plain", [{}]]


def test_carry_over_keeps_omitted_secrets() -> None:
    previous = {
        "api_key": "k",
        "oauth": {"token": {"access_token": "a"}, "scope": "old"},
        "org": "old-org",
    }
    replacement = {"oauth": {"scope": "new"}, "org": "new-org"}

    merged = carry_over_secrets(previous, replacement)

    assert merged == {
        "api_key": "k",
        "oauth": {"token": {"access_token": "a"}, "scope": "new"},
        "org": "new-org",
    }


def test_carry_over_lets_replacement_set_secrets() -> None:
    merged = carry_over_secrets({"api_key": "old"}, {"api_key": "new"})

    assert merged == {"api_key": "new"}


def test_carry_over_drops_omitted_plain_keys() -> None:
    merged = carry_over_secrets({"org": "o", "region": "r"}, {"org": "o2"})

    assert merged == {"org": "o2"}


def test_carry_over_keeps_declared_password_fields() -> None:
    config = {
        "credentials": {"config": {"fields": [{"name": "pin", "type": "password"}]}}
    }

    merged = carry_over_secrets({"pin": "1234", "org": "o"}, {"org": "o2"}, config)

    assert merged == {"pin": "1234", "org": "o2"}


# Through HTTP: the secret values never appear anywhere in a response.

SECRET_VALUES = [
    "sk-context-api-key",
    "context-password",
    "context-access-token",
    "context-refresh-token",
    "context-pin",
    "config-client-secret",
    "config-webhook-secret",
    "override-client-secret",
    "action-result-token",
]


@pytest.fixture(scope="module")
def secret_world(seeder: Seeder) -> tuple[Tenant, dict[str, str]]:
    tenant = make_tenant(seeder)
    integration = seeder.integration(
        tenant.team,
        "secretive",
        config={
            "base_url": "http://127.0.0.1:9/api",
            "credentials": {
                "format": "oauth2",
                "config": {
                    "client": {"id": "client-id-1", "secret": "config-client-secret"},
                    "fields": [{"name": "pin", "type": "password"}],
                },
            },
            "webhook": {
                "signature_verification": {
                    "config": {"secret": "config-webhook-secret"}
                }
            },
        },
    )
    install = seeder.install(
        tenant.production,
        integration,
        override={
            "credentials": {
                "config": {"client": {"client_secret": "override-client-secret"}}
            }
        },
    )
    account = seeder.account(
        install,
        context={
            "api_key": "sk-context-api-key",
            "password": "context-password",
            "pin": "context-pin",
            "oauth": {
                "token": {
                    "access_token": "context-access-token",
                    "refresh_token": "context-refresh-token",
                },
                "scope": "contacts.read",
            },
            "org_id": "org-visible",
        },
        last_action_result={"token": "action-result-token", "plan": "pro"},
    )
    return tenant, {"account": str(account.id), "integration": str(integration.id)}


def test_account_response_contains_no_secret(
    client: GraphQLClient, secret_world: tuple[Tenant, dict[str, str]]
) -> None:
    tenant, ids = secret_world
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on IntegratedAccount {
          context
          lastActionResult
          integration { config }
          environmentIntegration { override }
        }
      }
      integratedAccounts { nodes { context } }
      integrations(filter: {name: {eq: "secretive"}}) { nodes { config } }
      environmentIntegrations { nodes { override } }
    }
    """

    response = client.post(query, {"id": ids["account"]}, token=tenant.team_token)
    body: dict[str, Any] = response.json()

    assert "errors" not in body
    for value in SECRET_VALUES:
        assert value not in response.text
    account = body["data"]["node"]
    assert account["context"] == {
        "oauth": {"scope": "contacts.read"},
        "org_id": "org-visible",
    }
    assert account["lastActionResult"] == {"plan": "pro"}
    client_config = account["integration"]["config"]["credentials"]["config"]["client"]
    assert client_config == {"id": "client-id-1"}
