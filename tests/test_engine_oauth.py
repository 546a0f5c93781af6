"""OAuth credentials: token parsing, refresh with rotation, client credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine, EngineLimits
from config_engine.errors import (
    AuthenticationError,
    ConfigError,
    PlaceholderError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from config_engine.oauth import parse_token_response, token_expiry
from tests.upstream.helpers import RecordingSleep
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(
            client,
            sleep=RecordingSleep(),
            clock=NOW.timestamp,
            limits=EngineLimits(request_timeout=2.0),
        )


def oauth_config(vendor: Vendor, **options: Any) -> dict[str, Any]:
    return {
        "base_url": vendor.url("/api"),
        "authorization": {"format": "bearer"},
        "credentials": {
            "format": "oauth2",
            "config": {
                "client": {
                    "id": vendor.oauth.client_id,
                    "secret": vendor.oauth.client_secret,
                },
                "auth": {"tokenHost": vendor.base_url, "tokenPath": "/oauth/token"},
                **options,
            },
        },
        "resources": {"me": {"get": {"path": "/me"}}},
    }


def connected_context(vendor: Vendor) -> dict[str, Any]:
    access, refresh = vendor.oauth.grant()
    return {"oauth": {"token": {"access_token": access, "refresh_token": refresh}}}


# -- parsing token responses ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"expires_in": 3600}, NOW + timedelta(hours=1), id="number"),
        pytest.param({"expires_in": "3600"}, NOW + timedelta(hours=1), id="string"),
        pytest.param({"expires_in": 59.5}, NOW + timedelta(seconds=59.5), id="float"),
        pytest.param({"expires_in": 0}, None, id="zero"),
        pytest.param({"expires_in": -5}, None, id="negative"),
        pytest.param({}, None, id="absent"),
        pytest.param({"expires_in": "soon"}, None, id="unreadable"),
        pytest.param({"expires_in": 1e30}, None, id="past-year-9999"),
        pytest.param({"expires_in": "inf"}, None, id="infinite"),
        pytest.param({"expires_in": "nan"}, None, id="not-a-number"),
        pytest.param({"expires_at": 1e30}, None, id="epoch-past-year-9999"),
        pytest.param(
            {"expires_at": 1772370000},
            datetime.fromtimestamp(1772370000, UTC),
            id="epoch-s",
        ),
        pytest.param(
            {"expires_at": 1772370000123},
            datetime.fromtimestamp(1772370000.123, UTC),
            id="epoch-ms",
        ),
        pytest.param(
            {"expires_at": "2026-03-01T13:00:00Z"}, NOW + timedelta(hours=1), id="iso-z"
        ),
        pytest.param(
            {"expires_at": "2026-03-01T14:00:00+01:00"},
            NOW + timedelta(hours=1),
            id="iso-offset",
        ),
        pytest.param(
            {"expires_at": "2026-03-01T13:00:00"},
            NOW + timedelta(hours=1),
            id="iso-naive-utc",
        ),
        pytest.param(
            {"expires_in": 60, "expires_at": "2030-01-01T00:00:00Z"},
            NOW + timedelta(minutes=1),
            id="expires-in-wins",
        ),
    ],
)
def test_token_expiry(fields: dict[str, Any], expected: datetime | None) -> None:
    assert token_expiry(fields, NOW) == expected


def test_token_expiry_is_aware() -> None:
    expiry = token_expiry({"expires_in": 10}, NOW)

    assert expiry is not None
    assert expiry.tzinfo is not None


def test_missing_refresh_token_keeps_old_one() -> None:
    update = parse_token_response(
        {"access_token": "new"}, now=NOW, previous_refresh_token="old-refresh"
    )

    assert update.refresh_token == "old-refresh"
    assert update.refresh_token_rotated is False


def test_rotated_refresh_token_replaces_old_one() -> None:
    update = parse_token_response(
        {"access_token": "new", "refresh_token": "rotated"},
        now=NOW,
        previous_refresh_token="old-refresh",
    )

    assert update.refresh_token == "rotated"
    assert update.refresh_token_rotated is True


def test_token_raw_fields_exclude_secrets() -> None:
    update = parse_token_response(
        {
            "access_token": "a",
            "id_token": "jwt",
            "instance_url": "https://tenant.vendor.test",
            "refresh_token_expires_in": 7200,
            "client_secret": "leak",
        },
        now=NOW,
    )

    assert update.raw == {
        "instance_url": "https://tenant.vendor.test",
        "refresh_token_expires_in": 7200,
    }


def test_token_scope_string_becomes_list() -> None:
    update = parse_token_response({"access_token": "a", "scope": "read write"}, now=NOW)

    assert update.scope == ["read", "write"]
    assert update.credentials["scope"] == ["read", "write"]


def test_token_answer_without_access_token_is_unavailable() -> None:
    with pytest.raises(UpstreamUnavailableError, match=r"without an access_token"):
        parse_token_response({"token_type": "Bearer"}, now=NOW)


def test_context_patch_stores_token_where_truto_does() -> None:
    update = parse_token_response(
        {"access_token": "a", "refresh_token": "r", "expires_in": 60, "scope": "read"},
        now=NOW,
    )

    context = update.apply_to({"oauth": {"other": 1}, "org_id": "o"})

    token = context["oauth"]["token"]
    assert token["access_token"] == "a"
    assert token["refresh_token"] == "r"
    assert token["expires_at"] == "2026-03-01T12:01:00+00:00"
    assert context["oauth"]["scope"] == ["read"]
    assert context["oauth"]["other"] == 1
    assert context["org_id"] == "o"


# -- refresh against a token endpoint ------------------------------------------


async def test_refresh_returns_new_credentials(
    engine: Engine, upstream: Vendor
) -> None:
    context = connected_context(upstream)

    update = await engine.refresh_credentials(oauth_config(upstream), context)

    assert update.access_token in upstream.oauth.access_tokens
    assert update.refresh_token in upstream.oauth.valid_refresh_tokens
    assert update.refresh_token_rotated is True
    assert update.expires_at == NOW + timedelta(hours=1)
    assert update.token_type == "Bearer"


async def test_refreshed_token_authorizes_requests(
    engine: Engine, upstream: Vendor
) -> None:
    config = oauth_config(upstream)
    update = await engine.refresh_credentials(config, connected_context(upstream))

    page = await engine.request(config, update.apply_to({}), "me", "get")

    assert page.result["id"] == "user_1"
    assert (
        upstream.hits("/api/me")[0].headers["authorization"]
        == f"Bearer {update.access_token}"
    )


async def test_reused_refresh_token_is_authentication_error(
    engine: Engine, upstream: Vendor
) -> None:
    config = oauth_config(upstream)
    context = connected_context(upstream)
    old_refresh = context["oauth"]["token"]["refresh_token"]
    await engine.refresh_credentials(config, context)

    with pytest.raises(AuthenticationError, match=r"invalid_grant") as caught:
        await engine.refresh_credentials(config, context)

    assert caught.value.status == 400
    assert old_refresh not in caught.value.message
    assert "[redacted]" in caught.value.message


async def test_chained_refreshes_follow_rotation(
    engine: Engine, upstream: Vendor
) -> None:
    config = oauth_config(upstream)
    context = connected_context(upstream)

    for _ in range(3):
        update = await engine.refresh_credentials(config, context)
        context = update.apply_to(context)

    assert len(upstream.oauth.used_refresh_tokens) == 3


async def test_refresh_without_rotation_keeps_refresh_token(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.oauth.rotate = False
    context = connected_context(upstream)

    update = await engine.refresh_credentials(oauth_config(upstream), context)

    assert update.refresh_token == context["oauth"]["token"]["refresh_token"]
    assert update.refresh_token_rotated is False


@pytest.mark.parametrize(
    ("server_auth", "config_method"),
    [
        pytest.param("header", "header", id="basic-header"),
        pytest.param("body", "body", id="body"),
    ],
)
async def test_client_authentication_method(
    engine: Engine, upstream: Vendor, server_auth: str, config_method: str
) -> None:
    upstream.oauth.client_auth = server_auth
    config = oauth_config(upstream, options={"authorizationMethod": config_method})

    await engine.refresh_credentials(config, connected_context(upstream))

    sent = upstream.hits("/oauth/token")[0]
    assert ("authorization" in sent.headers) is (config_method == "header")
    assert ("client_secret" in sent.form()) is (config_method == "body")


async def test_wrong_client_authentication_is_rejected(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.oauth.client_auth = "body"

    with pytest.raises(AuthenticationError, match=r"invalid_client"):
        await engine.refresh_credentials(
            oauth_config(upstream), connected_context(upstream)
        )


async def test_json_body_format(engine: Engine, upstream: Vendor) -> None:
    upstream.oauth.body_format = "json"
    config = oauth_config(upstream, options={"bodyFormat": "json"})

    await engine.refresh_credentials(config, connected_context(upstream))

    sent = upstream.hits("/oauth/token")[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.json()["grant_type"] == "refresh_token"


async def test_refresh_params_and_refresh_path(
    engine: Engine, upstream: Vendor
) -> None:
    config = oauth_config(upstream, refreshParams={"audience": "{{audience}}"})
    config["credentials"]["config"]["auth"]["tokenPath"] = "/unused"
    config["credentials"]["config"]["auth"]["refreshPath"] = "/oauth/token"
    context = {**connected_context(upstream), "audience": "api://crm"}

    await engine.refresh_credentials(config, context)

    assert upstream.hits("/oauth/token")[0].form()["audience"] == "api://crm"


async def test_token_host_placeholder(engine: Engine, upstream: Vendor) -> None:
    config = oauth_config(upstream)
    host, namespace = upstream.base_url.rsplit("/", 1)
    config["credentials"]["config"]["auth"]["tokenHost"] = host
    config["credentials"]["config"]["auth"]["tokenPath"] = "/{{tenant}}/oauth/token"
    context = {**connected_context(upstream), "tenant": namespace}

    update = await engine.refresh_credentials(config, context)

    assert update.access_token


async def test_missing_token_host_placeholder_names_path(
    engine: Engine, upstream: Vendor
) -> None:
    config = oauth_config(upstream)
    config["credentials"]["config"]["auth"]["tokenHost"] = (
        "https://{{subdomain}}.vendor.test"
    )

    with pytest.raises(PlaceholderError, match=r"credentials\.config\.auth\.tokenHost"):
        await engine.refresh_credentials(config, connected_context(upstream))


async def test_no_refresh_token_needs_reauthorization(
    engine: Engine, upstream: Vendor
) -> None:
    with pytest.raises(AuthenticationError, match=r"no refresh token is stored"):
        await engine.refresh_credentials(
            oauth_config(upstream), {"oauth": {"token": {"access_token": "a"}}}
        )

    assert upstream.hits("/oauth/token") == []


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        pytest.param(
            Reply(503, text="maintenance"), UpstreamUnavailableError, "503", id="503"
        ),
        pytest.param(Reply(500, json={}), UpstreamUnavailableError, "500", id="500"),
        pytest.param(
            Reply(429, json={}, headers={"Retry-After": "30"}),
            RateLimitedError,
            "429",
            id="429",
        ),
        pytest.param(
            Reply(401, json={"error": "invalid_client"}),
            AuthenticationError,
            "401",
            id="401",
        ),
        pytest.param(
            Reply(200, json={"error": "bad_verification_code"}),
            AuthenticationError,
            "bad_verification_code",
            id="error-in-200",
        ),
        pytest.param(
            Reply(200, json={"token_type": "Bearer"}),
            UpstreamUnavailableError,
            "without an access_token",
            id="no-access-token",
        ),
    ],
)
async def test_token_endpoint_failures(
    engine: Engine, upstream: Vendor, reply: Reply, error: type[Exception], message: str
) -> None:
    upstream.oauth.failures.append(reply)

    with pytest.raises(error, match=message):
        await engine.refresh_credentials(
            oauth_config(upstream), connected_context(upstream)
        )


async def test_rate_limited_token_endpoint_reports_retry_after(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.oauth.failures.append(Reply(429, json={}, headers={"Retry-After": "30"}))

    with pytest.raises(RateLimitedError) as caught:
        await engine.refresh_credentials(
            oauth_config(upstream), connected_context(upstream)
        )

    assert caught.value.retry_after == 30


async def test_token_endpoint_timeout_is_unavailable(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.oauth.failures.append(Reply(200, json={}, delay=1.0))
    slow = Engine(engine.client, limits=EngineLimits(request_timeout=0.2))

    with pytest.raises(UpstreamUnavailableError, match=r"timed out"):
        await slow.refresh_credentials(
            oauth_config(upstream), connected_context(upstream)
        )


async def test_form_encoded_token_answer(engine: Engine, upstream: Vendor) -> None:
    upstream.oauth.failures.append(
        Reply(200, text="access_token=legacy&token_type=bearer&expires_in=60")
    )

    update = await engine.refresh_credentials(
        oauth_config(upstream), connected_context(upstream)
    )

    assert update.access_token == "legacy"
    assert update.expires_at == NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    "token_fields",
    [
        pytest.param({"expires_in": "7200"}, id="string"),
        pytest.param(
            {"expires_in": None, "expires_at": NOW.timestamp() + 7200}, id="epoch-s"
        ),
        pytest.param(
            {"expires_in": None, "expires_at": (NOW.timestamp() + 7200) * 1000},
            id="epoch-ms",
        ),
        pytest.param(
            {"expires_in": None, "expires_at": (NOW + timedelta(hours=2)).isoformat()},
            id="iso",
        ),
    ],
)
async def test_vendor_expiry_styles(
    engine: Engine, upstream: Vendor, token_fields: dict[str, Any]
) -> None:
    upstream.oauth.token_fields = token_fields

    update = await engine.refresh_credentials(
        oauth_config(upstream), connected_context(upstream)
    )

    assert update.expires_at == NOW + timedelta(hours=2)


async def test_absurd_expiry_means_unknown(engine: Engine, upstream: Vendor) -> None:
    upstream.oauth.token_fields = {"expires_in": 1e30}

    update = await engine.refresh_credentials(
        oauth_config(upstream), connected_context(upstream)
    )

    assert update.access_token in upstream.oauth.access_tokens
    assert update.expires_at is None


# -- client credentials, formats, custom refresh -------------------------------


def client_credentials_config(vendor: Vendor) -> dict[str, Any]:
    return {
        "base_url": vendor.url("/api"),
        "credentials": {
            "format": "oauth2_client_credentials",
            "config": {
                "auth": {"tokenHost": vendor.base_url, "tokenPath": "/oauth/token"},
                "scope": ["read", "write"],
                "fields": [
                    {"name": "client_id", "required": True},
                    {"name": "client_secret", "required": True},
                ],
            },
        },
    }


async def test_client_credentials_token(engine: Engine, upstream: Vendor) -> None:
    context = {
        "client_id": upstream.oauth.client_id,
        "client_secret": upstream.oauth.client_secret,
    }

    update = await engine.fetch_client_credentials_token(
        client_credentials_config(upstream), context
    )

    assert update.access_token in upstream.oauth.access_tokens
    assert update.refresh_token is None
    assert upstream.hits("/oauth/token")[0].form()["scope"] == "read write"


async def test_client_credentials_refresh_fetches_new_token(
    engine: Engine, upstream: Vendor
) -> None:
    context = {
        "client_id": upstream.oauth.client_id,
        "client_secret": upstream.oauth.client_secret,
    }

    update = await engine.refresh_credentials(
        client_credentials_config(upstream), context
    )

    assert upstream.hits("/oauth/token")[0].form()["grant_type"] == "client_credentials"
    assert update.access_token


async def test_client_credentials_without_secret(
    engine: Engine, upstream: Vendor
) -> None:
    with pytest.raises(
        AuthenticationError, match=r"client_id and client_secret are required"
    ):
        await engine.fetch_client_credentials_token(
            client_credentials_config(upstream), {"client_id": "x"}
        )


async def test_wrong_client_secret_is_authentication_error(
    engine: Engine, upstream: Vendor
) -> None:
    context = {
        "client_id": upstream.oauth.client_id,
        "client_secret": "wrong-secret-value",
    }

    with pytest.raises(AuthenticationError, match=r"invalid_client") as caught:
        await engine.fetch_client_credentials_token(
            client_credentials_config(upstream), context
        )

    assert "wrong-secret-value" not in caught.value.message


async def test_api_key_credentials_have_no_refresh(engine: Engine) -> None:
    config = {"credentials": {"format": "api_key", "config": {"fields": []}}}

    with pytest.raises(
        ConfigError, match=r"credentials\.format: credentials of format 'api_key'"
    ):
        await engine.refresh_credentials(config, {})


def test_missing_api_key_fields(engine: Engine) -> None:
    config = {
        "credentials": {
            "format": "api_key",
            "config": {
                "fields": [
                    {"name": "api_key", "required": True},
                    {"name": "subdomain", "required": True},
                    {"name": "webhook_secret", "required": False},
                ]
            },
        }
    }

    missing = engine.missing_credential_fields(
        config, {"api_key": "k", "subdomain": ""}
    )

    assert missing == ["subdomain"]


async def test_credentials_map_selects_by_method(
    engine: Engine, upstream: Vendor
) -> None:
    single = oauth_config(upstream)
    config = {
        **single,
        "credentials": {
            "api_key": {"format": "api_key", "config": {}},
            "oauth2": single["credentials"],
        },
    }

    update = await engine.refresh_credentials(
        config, connected_context(upstream), authentication_method="oauth2"
    )

    assert update.access_token


async def test_credentials_map_unknown_method(engine: Engine, upstream: Vendor) -> None:
    config = {
        "credentials": {
            "api_key": {"format": "api_key"},
            "oauth2": {"format": "oauth2"},
        }
    }

    with pytest.raises(
        ConfigError, match=r"no credentials for authentication method 'basic'"
    ):
        await engine.refresh_credentials(config, {}, authentication_method="basic")


async def test_custom_refresh_token_action(engine: Engine, upstream: Vendor) -> None:
    upstream.script(
        "/custom/refresh",
        Reply(
            200, json={"token": {"access_token": "custom-access", "expires_in": 120}}
        ),
        method="POST",
    )
    config = oauth_config(upstream)
    config["actions"] = {
        "refresh_token": {
            "steps": [
                {
                    "type": "request",
                    "config": {
                        "method": "post",
                        "base_url": upstream.base_url,
                        "path": "/custom/refresh",
                        "body": {"key": "{{oauth.token.refresh_token}}"},
                        "response_path": "token",
                    },
                },
                {
                    "type": "update_context",
                    "config": {"expression": "{ 'oauth': { 'token': $previous } }"},
                },
            ]
        }
    }
    context = connected_context(upstream)

    update = await engine.refresh_credentials(config, context)

    assert update.access_token == "custom-access"
    assert update.refresh_token == context["oauth"]["token"]["refresh_token"]
    assert update.expires_at == NOW + timedelta(minutes=2)
    sent = upstream.hits("/custom/refresh")[0].json()
    assert sent == {"key": context["oauth"]["token"]["refresh_token"]}
