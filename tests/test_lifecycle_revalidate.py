"""revalidateIntegratedAccount and updateIntegratedAccountCredentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder
from tests.upstream.accounts import (
    REVALIDATE,
    UPDATE_CREDENTIALS,
    Installed,
    api_key_config,
    event_types,
    install,
    oauth_config,
    run_mutation,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]


def api_key_account(
    seeder: Seeder,
    vendor: Vendor,
    *,
    status: str = "active",
    scopes: set[str] | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[Installed, models.IntegratedAccount]:
    """Seed an API-key account; `scopes` None leaves the key unknown upstream."""
    installed = install(seeder, config or api_key_config(vendor))
    if scopes is not None:
        vendor.api_keys[API_KEY] = scopes
    account = seeder.account(
        installed.install,
        status=status,
        authentication_method="api_key",
        context={"api_key": API_KEY},
    )
    return installed, account


def revalidate(
    client: GraphQLClient, installed: Installed, account_id: Any, **fields: Any
) -> dict[str, Any]:
    return run_mutation(
        client, REVALIDATE, installed.token, id=str(account_id), **fields
    )


def stored(
    seeder: Seeder, account: models.IntegratedAccount
) -> models.IntegratedAccount:
    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("scopes", "status", "event"),
    [
        pytest.param(None, "NEEDS_REAUTH", "authentication_error", id="revoked-401"),
        pytest.param({"write"}, "VALIDATION_ERROR", "validation_error", id="scope-403"),
    ],
)
def test_failed_validation_moves_active_account(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    scopes: set[str] | None,
    status: str,
    event: str,
) -> None:
    installed, account = api_key_account(seeder, upstream, scopes=scopes)

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == status
    assert payload["integratedAccount"]["lastError"] is not None
    assert event_types(client, str(account.id), installed.token) == [
        f"integrated_account:{event}"
    ]


@pytest.mark.parametrize(
    ("previous", "event"),
    [
        pytest.param("needs_reauth", "reactivated", id="from-needs-reauth"),
        pytest.param("validation_error", "active", id="from-validation-error"),
    ],
)
def test_passing_validation_activates_account(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    previous: str,
    event: str,
) -> None:
    installed, account = api_key_account(
        seeder, upstream, status=previous, scopes={"read"}
    )

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert payload["integratedAccount"]["lastError"] is None
    assert event_types(client, str(account.id), installed.token) == [
        f"integrated_account:{event}"
    ]


def test_revalidating_active_account_emits_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream, scopes={"read"})

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert payload["integratedAccount"]["lastValidatedAt"] is not None
    assert event_types(client, str(account.id), installed.token) == []
    assert [hit.path for hit in upstream.requests] == ["/api/me"]


def test_post_install_error_reruns_post_install(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(
        seeder, upstream, status="post_install_error", scopes={"read"}
    )

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert payload["integratedAccount"]["context"] == {"org_id": "org_123"}
    assert [hit.path for hit in upstream.requests] == ["/api/account", "/api/me"]


def test_rerun_post_install_on_request(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream, scopes={"read"})
    upstream.org_id = "org_456"

    revalidate(client, installed, account.id, rerunPostInstall=True)

    assert stored(seeder, account).context["org_id"] == "org_456"
    assert len(upstream.hits("/api/account")) == 1


def test_failed_rerun_of_post_install(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream, scopes={"read"})
    upstream.script("/api/account", Reply(404, json={"message": "no account"}))

    payload = revalidate(client, installed, account.id, rerunPostInstall=True)

    assert payload["integratedAccount"]["status"] == "POST_INSTALL_ERROR"
    assert [error["code"] for error in payload["userErrors"]] == ["UPSTREAM_ERROR"]


def test_transient_validation_failure_keeps_status(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    validation = {
        "steps": [{"type": "request", "config": {"method": "post", "path": "/me"}}]
    }
    config = api_key_config(upstream, actions={"validation": validation})
    installed, account = api_key_account(seeder, upstream, config=config)
    upstream.script("/api/me", Reply(503, json={"message": "maintenance"}))

    payload = revalidate(client, installed, account.id)

    result = payload["integratedAccount"]
    assert result["status"] == "ACTIVE"
    assert result["lastActionResult"]["ok"] is False
    assert [error["code"] for error in payload["userErrors"]] == [
        "UPSTREAM_UNAVAILABLE"
    ]
    assert event_types(client, str(account.id), installed.token) == []


def test_expired_token_is_refreshed_first(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))
    access, refresh = upstream.oauth.grant()
    expired = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    account = seeder.account(
        installed.install,
        status="active",
        authentication_method="oauth2",
        context={
            "oauth": {
                "token": {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_at": expired,
                }
            }
        },
    )

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert [hit.path for hit in upstream.requests] == ["/oauth/token", "/api/me"]
    token = stored(seeder, account).context["oauth"]["token"]
    assert token["access_token"] != access


def test_fresh_token_is_not_refreshed(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))
    access, refresh = upstream.oauth.grant()
    account = seeder.account(
        installed.install,
        status="active",
        context={
            "oauth": {"token": {"access_token": access, "refresh_token": refresh}}
        },
    )

    revalidate(client, installed, account.id)

    assert [hit.path for hit in upstream.requests] == ["/api/me"]


def test_rotated_token_survives_a_failed_validation(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))
    access, refresh = upstream.oauth.grant()
    expired = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    account = seeder.account(
        installed.install,
        status="active",
        context={
            "oauth": {
                "token": {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_at": expired,
                }
            }
        },
    )
    upstream.script("/api/me", Reply(429, json={}, headers={"Retry-After": "300"}))

    payload = revalidate(client, installed, account.id)

    token = stored(seeder, account).context["oauth"]["token"]
    assert [error["code"] for error in payload["userErrors"]] == ["RATE_LIMITED"]
    assert refresh in upstream.oauth.used_refresh_tokens
    assert token["refresh_token"] in upstream.oauth.valid_refresh_tokens


def test_sandbox_validation_may_post(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    validation = {
        "steps": [
            {"type": "request", "config": {"method": "post", "path": "/contacts"}}
        ]
    }
    config = api_key_config(upstream, actions={"validation": validation})
    installed, account = api_key_account(
        seeder, upstream, scopes={"read"}, config=config
    )
    account.is_sandbox = True
    seeder.add(account)

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert [hit.method for hit in upstream.requests] == ["POST"]


# -- updateIntegratedAccountCredentials --------------------------------------


def update_credentials(
    client: GraphQLClient, installed: Installed, account_id: Any, credentials: Any
) -> dict[str, Any]:
    return run_mutation(
        client,
        UPDATE_CREDENTIALS,
        installed.token,
        id=str(account_id),
        credentials=credentials,
    )


def test_credentials_merge_keeps_other_keys(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, oauth_config(upstream))
    account = seeder.account(
        installed.install,
        context={
            "workspace": "blue",
            "oauth": {"token": {"access_token": "old", "refresh_token": "keep"}},
        },
    )

    payload = update_credentials(
        client,
        installed,
        account.id,
        {"oauth": {"token": {"access_token": "new", "expires_in": 600}}},
    )

    context = stored(seeder, account).context
    assert payload["userErrors"] == []
    assert context["workspace"] == "blue"
    assert context["oauth"]["token"]["access_token"] == "new"
    assert context["oauth"]["token"]["refresh_token"] == "keep"
    assert "expires_in" not in context["oauth"]["token"]
    assert stored(seeder, account).credentials_expire_at is not None
    assert upstream.requests == []
    assert event_types(client, str(account.id), installed.token) == [
        "integrated_account:updated"
    ]


def test_same_credentials_emit_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream)

    payload = update_credentials(client, installed, account.id, {"api_key": API_KEY})

    assert payload["integratedAccount"]["id"] == str(account.id)
    assert event_types(client, str(account.id), installed.token) == []


@pytest.mark.parametrize(
    ("context", "credentials"),
    [
        pytest.param({"api_key": API_KEY}, {"api_key": API_KEY}, id="same-api-key"),
        pytest.param(
            {"oauth": {"token": {"access_token": "at", "refresh_token": "rt"}}},
            {"oauth": {"token": {"access_token": "at"}}},
            id="same-token-without-expiry",
        ),
        pytest.param({"api_key": API_KEY}, {"password": None}, id="remove-missing-key"),
    ],
)
def test_same_credentials_keep_updated_at(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    context: dict[str, Any],
    credentials: dict[str, Any],
) -> None:
    installed = install(seeder, oauth_config(upstream))
    account = seeder.account(installed.install, context=context)

    payload = update_credentials(client, installed, account.id, credentials)

    assert payload["userErrors"] == []
    row = stored(seeder, account)
    assert row.updated_at == account.updated_at
    assert row.context == context
    assert row.lease_id is None
    assert event_types(client, str(account.id), installed.token) == []


def test_null_credential_removes_key(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = api_key_account(seeder, upstream)

    update_credentials(client, installed, account.id, {"api_key": None})

    assert "api_key" not in stored(seeder, account).context


@pytest.mark.parametrize(
    ("credentials", "field", "message"),
    [
        pytest.param(
            {"workspace": "red"},
            ["input", "credentials", "workspace"],
            "is not a credential",
            id="not-a-credential",
        ),
        pytest.param(
            {"oauth": {"scope": "all"}},
            ["input", "credentials", "oauth"],
            'of the form {"token"',
            id="oauth-without-token",
        ),
        pytest.param("key", ["input", "credentials"], "JSON object", id="not-object"),
    ],
)
def test_bad_credentials_change_nothing(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    credentials: Any,
    field: list[str],
    message: str,
) -> None:
    installed, account = api_key_account(seeder, upstream)

    payload = update_credentials(client, installed, account.id, credentials)

    [error] = payload["userErrors"]
    assert payload["integratedAccount"] is None
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == field
    assert message in error["message"]
    assert stored(seeder, account).context == {"api_key": API_KEY}


def test_validation_without_action_activates(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    config = api_key_config(upstream, actions=None)
    installed, account = api_key_account(
        seeder, upstream, status="validation_error", config=config
    )

    payload = revalidate(client, installed, account.id)

    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert upstream.requests == []
