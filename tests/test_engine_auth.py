"""Authorization formats: bearer, basic, header and JSONata header expressions."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import ConfigError, PlaceholderError
from tests.upstream.helpers import RecordingSleep, echo_config
from tests.upstream.vendor import Vendor

pytest_plugins = ["tests.upstream.plugin"]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep())


async def sent_headers(
    engine: Engine,
    vendor: Vendor,
    integration_authorization: dict[str, Any] | None,
    context: dict[str, Any],
    **method: Any,
) -> dict[str, str]:
    config = echo_config(vendor, method)
    if integration_authorization is not None:
        config["authorization"] = integration_authorization
    page = await engine.request(config, context, "echo", "call")
    headers: dict[str, str] = page.result["headers"]
    return headers


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("context", "token"),
    [
        pytest.param(
            {"oauth": {"token": {"access_token": "oauth-tok"}}}, "oauth-tok", id="oauth"
        ),
        pytest.param({"access_token": "plain-tok"}, "plain-tok", id="access-token"),
        pytest.param({"token": "pat-tok"}, "pat-tok", id="token"),
    ],
)
async def test_bearer_token_sources(
    engine: Engine, upstream: Vendor, context: dict[str, Any], token: str
) -> None:
    headers = await sent_headers(engine, upstream, {"format": "bearer"}, context)

    assert headers["authorization"] == f"Bearer {token}"


async def test_bearer_token_template(engine: Engine, upstream: Vendor) -> None:
    authorization = {"format": "bearer", "config": {"token": "{{custom.key}}"}}

    headers = await sent_headers(
        engine, upstream, authorization, {"custom": {"key": "k-1"}}
    )

    assert headers["authorization"] == "Bearer k-1"


async def test_bearer_without_token_is_placeholder_error(
    engine: Engine, upstream: Vendor
) -> None:
    with pytest.raises(
        PlaceholderError, match=r"resources\.echo\.call\.authorization\.config\.token"
    ):
        await sent_headers(engine, upstream, {"format": "bearer"}, {"oauth": {}})

    assert upstream.requests == []


async def test_basic_from_credentials(engine: Engine, upstream: Vendor) -> None:
    authorization = {
        "format": "basic",
        "config": {
            "username": "{{credentials.username}}",
            "password": "{{credentials.password}}",
        },
    }

    headers = await sent_headers(
        engine,
        upstream,
        authorization,
        {"username": "ada", "password": "pw:with:colons"},
    )

    assert headers["authorization"] == basic("ada", "pw:with:colons")


async def test_basic_defaults_to_username_and_password(
    engine: Engine, upstream: Vendor
) -> None:
    headers = await sent_headers(
        engine, upstream, {"format": "basic"}, {"username": "u", "password": "p"}
    )

    assert headers["authorization"] == basic("u", "p")


async def test_basic_literal_empty_password(engine: Engine, upstream: Vendor) -> None:
    authorization = {
        "format": "basic",
        "config": {"username": "{{api_key}}", "password": ""},
    }

    headers = await sent_headers(
        engine, upstream, authorization, {"api_key": "sk_live_1"}
    )

    assert headers["authorization"] == basic("sk_live_1", "")


async def test_basic_missing_password_is_placeholder_error(
    engine: Engine, upstream: Vendor
) -> None:
    with pytest.raises(PlaceholderError, match=r"authorization\.config\.password"):
        await sent_headers(engine, upstream, {"format": "basic"}, {"username": "u"})


async def test_header_name_and_value(engine: Engine, upstream: Vendor) -> None:
    authorization = {
        "format": "header",
        "config": {
            "header_name": "X-Api-Key",
            "header_value": "{{credentials.api_key}}",
        },
    }

    headers = await sent_headers(engine, upstream, authorization, {"api_key": "k-2"})

    assert headers["x-api-key"] == "k-2"


async def test_header_value_never_sends_bare_scheme(
    engine: Engine, upstream: Vendor
) -> None:
    authorization = {
        "format": "header",
        "config": {
            "header_name": "Authorization",
            "header_value": "Bearer {{credentials.api_key}}",
        },
    }

    with pytest.raises(
        PlaceholderError, match=r"authorization\.config\.header_value"
    ) as caught:
        await sent_headers(engine, upstream, authorization, {})

    assert caught.value.placeholder == "credentials.api_key"
    assert upstream.requests == []


async def test_header_expression_builds_several_headers(
    engine: Engine, upstream: Vendor
) -> None:
    authorization = {
        "format": "header",
        "config": {
            "expression": (
                "{ 'Authorization': 'Bearer ' & context.access_token, "
                "'X-Org-Id': context.org_id }"
            )
        },
    }

    headers = await sent_headers(
        engine, upstream, authorization, {"access_token": "t-3", "org_id": "org-3"}
    )

    assert headers["authorization"] == "Bearer t-3"
    assert headers["x-org-id"] == "org-3"


async def test_header_expression_sees_url_and_request(
    engine: Engine, upstream: Vendor
) -> None:
    authorization = {
        "format": "header",
        "config": {
            "expression": (
                "{ 'X-Signed': requestOptions.method & ' ' & $contains(url, '/echo') }"
            )
        },
    }

    headers = await sent_headers(engine, upstream, authorization, {}, method="post")

    assert headers["x-signed"] == "POST true"


async def test_header_expression_missing_credential(
    engine: Engine, upstream: Vendor
) -> None:
    authorization = {
        "format": "header",
        "config": {
            "expression": "{ 'Authorization': 'Bearer ' & context.access_token }"
        },
    }

    with pytest.raises(ConfigError, match=r"gave header 'Authorization' no credential"):
        await sent_headers(engine, upstream, authorization, {})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param(
            "'just text'",
            r"must return an object of headers, received 'just text'",
            id="text",
        ),
        pytest.param("{ 'a': ", r"the expression failed", id="syntax"),
    ],
)
async def test_header_expression_errors(
    engine: Engine, upstream: Vendor, expression: str, message: str
) -> None:
    authorization = {"format": "header", "config": {"expression": expression}}

    with pytest.raises(ConfigError, match=message):
        await sent_headers(engine, upstream, authorization, {})


async def test_header_format_without_name(engine: Engine, upstream: Vendor) -> None:
    with pytest.raises(
        ConfigError, match=r"config\.header_name: header authorization needs"
    ):
        await sent_headers(engine, upstream, {"format": "header", "config": {}}, {})


async def test_unknown_authorization_format(engine: Engine, upstream: Vendor) -> None:
    with pytest.raises(
        ConfigError,
        match=r"authorization\.format: unknown authorization format 'oauth1'",
    ):
        await sent_headers(engine, upstream, {"format": "oauth1"}, {})


async def test_no_auth_method_sends_no_credentials(
    engine: Engine, upstream: Vendor
) -> None:
    headers = await sent_headers(
        engine, upstream, {"format": "bearer"}, {"access_token": "t"}, no_auth=True
    )

    assert "authorization" not in headers


async def test_method_authorization_replaces_integration(
    engine: Engine, upstream: Vendor
) -> None:
    method_authorization = {
        "format": "header",
        "config": {"header_name": "X-Other", "header_value": "{{other}}"},
    }

    headers = await sent_headers(
        engine,
        upstream,
        {"format": "bearer"},
        {"access_token": "t", "other": "o"},
        authorization=method_authorization,
    )

    assert headers["x-other"] == "o"
    assert "authorization" not in headers


async def test_authorization_overrides_config_header(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(upstream, {"headers": {"authorization": "stale"}})
    config["authorization"] = {"format": "bearer"}

    page = await engine.request(config, {"access_token": "fresh"}, "echo", "call")

    assert page.result["headers"]["authorization"] == "Bearer fresh"


@pytest.mark.parametrize(
    ("credentials", "context", "expected"),
    [
        pytest.param(
            {"format": "api_key", "config": {}},
            {"api_key": "k-9"},
            "Bearer k-9",
            id="api-key",
        ),
        pytest.param(
            {"format": "oauth2", "config": {}},
            {"oauth": {"token": {"access_token": "o-9"}}},
            "Bearer o-9",
            id="oauth2",
        ),
        pytest.param(
            {"format": "oauth2_client_credentials", "config": {}},
            {"oauth": {"token": {"access_token": "c-9"}}},
            "Bearer c-9",
            id="client-credentials",
        ),
    ],
)
async def test_default_authorization_follows_credentials(
    engine: Engine,
    upstream: Vendor,
    credentials: dict[str, Any],
    context: dict[str, Any],
    expected: str,
) -> None:
    config = echo_config(upstream, {}, credentials=credentials)

    page = await engine.request(config, context, "echo", "call")

    assert page.result["headers"]["authorization"] == expected


async def test_default_authorization_by_method(
    engine: Engine, upstream: Vendor
) -> None:
    credentials = {
        "api_key": {"format": "api_key", "config": {}},
        "oauth2": {"format": "oauth2", "config": {}},
    }
    config = echo_config(upstream, {}, credentials=credentials)
    context = {"api_key": "k-1", "oauth": {"token": {"access_token": "o-1"}}}

    chosen = await engine.request(
        config, context, "echo", "call", authentication_method="oauth2"
    )
    unchosen = await engine.request(config, context, "echo", "call")

    assert chosen.result["headers"]["authorization"] == "Bearer o-1"
    assert "authorization" not in unchosen.result["headers"]


async def test_default_api_key_authorization_needs_key(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(upstream, {}, credentials={"format": "api_key"})

    with pytest.raises(PlaceholderError, match=r"credentials\.api_key"):
        await engine.request(config, {}, "echo", "call")


async def test_null_method_authorization_sends_none(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(
        upstream, {"authorization": None}, credentials={"format": "api_key"}
    )
    config["authorization"] = {"format": "bearer"}

    page = await engine.request(config, {"api_key": "k"}, "echo", "call")

    assert "authorization" not in page.result["headers"]
