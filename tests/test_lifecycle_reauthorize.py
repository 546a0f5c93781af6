"""reauthorizeIntegratedAccount: refresh, reconnect, dead and transient failures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder
from tests.upstream.accounts import (
    REAUTHORIZE,
    Installed,
    api_key_config,
    client_credentials_config,
    event_types,
    install,
    oauth_config,
    run_mutation,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]


def oauth_account(
    seeder: Seeder,
    vendor: Vendor,
    *,
    status: str = "active",
    expires_in: timedelta = timedelta(hours=1),
    refresh: bool = True,
    config: dict[str, Any] | None = None,
) -> tuple[Installed, models.IntegratedAccount]:
    """Seed an OAuth account holding a token pair that the vendor issued."""
    installed = install(seeder, config or oauth_config(vendor))
    access, refresh_token = vendor.oauth.grant()
    token: dict[str, Any] = {
        "access_token": access,
        "expires_at": (datetime.now(UTC) + expires_in).isoformat(),
    }
    if refresh:
        token["refresh_token"] = refresh_token
    account = seeder.account(
        installed.install,
        status=status,
        authentication_method="oauth2",
        context={"workspace": "blue", "oauth": {"token": token}},
    )
    return installed, account


def stored(
    seeder: Seeder, account: models.IntegratedAccount
) -> models.IntegratedAccount:
    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    return row


def reauthorize(
    client: GraphQLClient, installed: Installed, account_id: Any, **fields: Any
) -> dict[str, Any]:
    return run_mutation(
        client, REAUTHORIZE, installed.token, id=str(account_id), **fields
    )


def test_refresh_stores_rotated_refresh_token(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)
    old_refresh = account.context["oauth"]["token"]["refresh_token"]

    payload = reauthorize(client, installed, account.id)

    token = stored(seeder, account).context["oauth"]["token"]
    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert old_refresh in upstream.oauth.used_refresh_tokens
    assert token["refresh_token"] in upstream.oauth.valid_refresh_tokens
    assert token["access_token"] in upstream.oauth.access_tokens
    assert stored(seeder, account).context["workspace"] == "blue"


def test_second_refresh_uses_rotated_token(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)

    reauthorize(client, installed, account.id)
    payload = reauthorize(client, installed, account.id)

    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert len(upstream.hits("/oauth/token")) == 2


def test_refresh_records_times_and_steps(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)

    payload = reauthorize(client, installed, account.id)

    result = payload["integratedAccount"]
    token_step, validation_step = result["lastActionResult"]["steps"]
    assert result["lastRefreshedAt"] is not None
    assert result["lastValidatedAt"] is not None
    assert token_step["action"] == "token"
    assert token_step["request_path"] == f"/{upstream.namespace}/oauth/token"
    assert validation_step["status"] == 200


def test_refresh_without_status_change_emits_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)

    reauthorize(client, installed, account.id)

    assert event_types(client, str(account.id), installed.token) == []


def test_rejected_refresh_needs_reauth(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)
    upstream.oauth.valid_refresh_tokens.clear()

    payload = reauthorize(client, installed, account.id)

    result = payload["integratedAccount"]
    assert result["status"] == "NEEDS_REAUTH"
    assert "invalid_grant" in result["lastError"]
    assert [error["code"] for error in payload["userErrors"]] == ["INVALID_CREDENTIALS"]
    assert upstream.hits("/api/me") == []
    assert event_types(client, str(account.id), installed.token) == [
        "integrated_account:authentication_error"
    ]


def test_expired_token_without_refresh_token_needs_reauth(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(
        seeder, upstream, expires_in=timedelta(minutes=-5), refresh=False
    )

    payload = reauthorize(client, installed, account.id)

    result = payload["integratedAccount"]
    assert result["status"] == "NEEDS_REAUTH"
    assert "no refresh token" in result["lastError"]
    assert upstream.requests == []


def test_live_token_without_refresh_token_is_validated(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream, refresh=False)

    payload = reauthorize(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert [hit.path for hit in upstream.requests] == ["/api/me"]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        pytest.param(
            Reply(503, json={"error": "temporarily_unavailable"}),
            "UPSTREAM_UNAVAILABLE",
            id="503",
        ),
        pytest.param(
            Reply(429, json={"error": "slow_down"}, headers={"Retry-After": "30"}),
            "RATE_LIMITED",
            id="429",
        ),
    ],
)
def test_transient_refresh_failure_keeps_status(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    reply: Reply,
    code: str,
) -> None:
    installed, account = oauth_account(seeder, upstream, status="validation_error")
    upstream.oauth.failures.append(reply)

    payload = reauthorize(client, installed, account.id)

    result = payload["integratedAccount"]
    assert result["status"] == "VALIDATION_ERROR"
    assert result["lastError"] is None
    assert [error["code"] for error in payload["userErrors"]] == [code]
    assert event_types(client, str(account.id), installed.token) == []
    assert stored(seeder, account).lease_id is None


def test_refresh_reactivates_needs_reauth_account(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream, status="needs_reauth")

    payload = reauthorize(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert event_types(client, str(account.id), installed.token) == [
        "integrated_account:reactivated"
    ]


@pytest.mark.parametrize(
    ("token_fields", "expected_expiry"),
    [
        pytest.param({"expires_in": "7200"}, timedelta(hours=2), id="string"),
        pytest.param({"expires_in": None}, None, id="absent"),
        pytest.param(
            {"expires_in": None, "expires_at": 4102444800},
            datetime(2100, 1, 1, tzinfo=UTC),
            id="absolute",
        ),
    ],
)
def test_refresh_stores_token_expiry(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    token_fields: dict[str, Any],
    expected_expiry: timedelta | datetime | None,
) -> None:
    installed, account = oauth_account(seeder, upstream)
    upstream.oauth.token_fields = token_fields
    before = datetime.now(UTC)

    reauthorize(client, installed, account.id)

    expires_at = stored(seeder, account).credentials_expire_at
    if expected_expiry is None:
        assert expires_at is None
    elif isinstance(expected_expiry, datetime):
        assert expires_at == expected_expiry
    else:
        assert expires_at is not None
        assert before + expected_expiry <= expires_at
        assert expires_at <= datetime.now(UTC) + expected_expiry


def test_custom_refresh_action_is_used(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.script(
        "/api/session", Reply(200, json={"access_token": "custom-access", "ttl": 60})
    )
    actions = {
        "refresh_token": {
            "steps": [
                {
                    "type": "request",
                    "config": {"method": "post", "path": "/session", "body": {}},
                }
            ]
        },
    }
    config = oauth_config(upstream, actions=actions)
    installed, account = oauth_account(seeder, upstream, config=config)

    payload = reauthorize(client, installed, account.id)

    token = stored(seeder, account).context["oauth"]["token"]
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert token["access_token"] == "custom-access"
    assert upstream.hits("/oauth/token") == []


def test_client_credentials_fetch_a_new_token(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, client_credentials_config(upstream))
    account = seeder.account(
        installed.install,
        status="active",
        authentication_method="oauth2_client_credentials",
        context={
            "client_id": upstream.oauth.client_id,
            "client_secret": upstream.oauth.client_secret,
        },
    )

    payload = reauthorize(client, installed, account.id)

    token = stored(seeder, account).context["oauth"]["token"]
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert token["access_token"] in upstream.oauth.access_tokens
    assert len(upstream.hits("/oauth/token")) == 1


def api_key_account(
    seeder: Seeder, vendor: Vendor, status: str = "needs_reauth"
) -> tuple[Installed, models.IntegratedAccount]:
    installed = install(seeder, api_key_config(vendor))
    account = seeder.account(
        installed.install,
        status=status,
        authentication_method="api_key",
        last_error="GET /me failed with 401",
        context={"api_key": "key-revoked", "org_id": "org_123"},
    )
    return installed, account


def test_reconnect_replaces_credentials_only(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream)
    upstream.api_keys[API_KEY] = {"read"}

    payload = reauthorize(
        client, installed, account.id, credentials={"api_key": API_KEY}
    )

    result = payload["integratedAccount"]
    assert payload["userErrors"] == []
    assert result["id"] == str(account.id)
    assert result["status"] == "ACTIVE"
    assert result["lastError"] is None
    assert stored(seeder, account).context == {"api_key": API_KEY, "org_id": "org_123"}
    assert event_types(client, str(account.id), installed.token) == [
        "integrated_account:active"
    ]


def test_reconnect_can_replace_whole_context(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream, status="active")
    upstream.api_keys[API_KEY] = {"read"}

    payload = reauthorize(
        client,
        installed,
        account.id,
        credentials={"api_key": API_KEY},
        replaceContext=True,
    )

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert stored(seeder, account).context == {"api_key": API_KEY}
    assert event_types(client, str(account.id), installed.token) == [
        "integrated_account:updated"
    ]


def test_reconnect_with_dead_key_needs_reauth(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream, status="active")

    payload = reauthorize(
        client, installed, account.id, credentials={"api_key": "key-also-dead"}
    )

    result = payload["integratedAccount"]
    assert result["status"] == "NEEDS_REAUTH"
    assert "401" in result["lastError"]
    assert [error["code"] for error in payload["userErrors"]] == ["INVALID_CREDENTIALS"]


def test_reconnect_checks_credential_fields(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream)

    payload = reauthorize(client, installed, account.id, credentials={"api_key": "x"})

    assert payload["integratedAccount"] is None
    [error] = payload["userErrors"]
    assert error["field"] == ["input", "credentials", "api_key"]
    assert error["code"] == "BAD_USER_INPUT"
    assert stored(seeder, account).context["api_key"] == "key-revoked"
    assert stored(seeder, account).lease_id is None
    assert upstream.requests == []


def test_reconnect_rejects_non_object_credentials(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream)

    payload = reauthorize(client, installed, account.id, credentials=["key"])

    [error] = payload["userErrors"]
    assert error["field"] == ["input", "credentials"]
    assert "must be a JSON object" in error["message"]


def test_bad_reconnect_token_names_credentials(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)

    payload = reauthorize(
        client,
        installed,
        account.id,
        credentials={"oauth": {"token": {"access_token": 5}}},
    )

    [error] = payload["userErrors"]
    assert error["field"] == ["input", "credentials", "oauth"]
    assert "credentials.oauth.token.access_token" in error["message"]
    assert "but got a number 5" in error["message"]
    assert upstream.requests == []


def test_foreign_account_is_not_found(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    _, account = oauth_account(seeder, upstream)
    stranger = install(seeder, oauth_config(upstream))

    payload = reauthorize(client, stranger, account.id)

    assert payload["integratedAccount"] is None
    assert [error["code"] for error in payload["userErrors"]] == ["NOT_FOUND"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("account_id", "code"),
    [
        pytest.param(str(uuid.uuid4()), "NOT_FOUND", id="missing"),
        pytest.param("not-a-uuid", "BAD_USER_INPUT", id="malformed"),
    ],
)
def test_unknown_ids_are_rejected(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    account_id: str,
    code: str,
) -> None:
    installed = install(seeder, oauth_config(upstream))

    payload = reauthorize(client, installed, account_id)

    [error] = payload["userErrors"]
    assert error["code"] == code
    assert error["field"] == ["input", "id"]
