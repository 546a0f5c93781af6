"""Error expressions, typed upstream errors, missing scopes and secret redaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import (
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
    UpstreamUnavailableError,
)
from config_engine.responses import Redactor, lookup_path, upstream_message
from tests.upstream.helpers import (
    API_KEY,
    RecordingSleep,
    api_config,
    api_key_context,
    echo_config,
)
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep())


def answer_config(vendor: Vendor, reply: Reply, **changes: Any) -> dict[str, Any]:
    vendor.script("/answer", reply)
    method = changes.pop("method", {})
    return echo_config(vendor, {"path": "/answer", **method}, **changes)


async def call(
    engine: Engine, config: dict[str, Any], context: dict[str, Any] | None = None
) -> Any:
    return await engine.request(config, context or {}, "echo", "call")


# -- status to error class -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(403, ForbiddenError, id="403"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(429, RateLimitedError, id="429"),
        pytest.param(408, UpstreamUnavailableError, id="408"),
        pytest.param(500, UpstreamUnavailableError, id="500"),
        pytest.param(422, UpstreamError, id="422"),
    ],
)
async def test_status_maps_to_error_class(
    engine: Engine, upstream: Vendor, status: int, error: type[UpstreamError]
) -> None:
    config = answer_config(
        upstream, Reply(status, json={"message": "nope"}), method={"method": "post"}
    )
    config["rate_limit"] = {"is_rate_limited": "false"}

    with pytest.raises(
        error, match=rf"POST echo\.call failed with status {status}: nope"
    ) as caught:
        await call(engine, config)

    assert type(caught.value) is error
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"error_description": "expired"}, "expired", id="oauth-description"
        ),
        pytest.param({"error": {"message": "deep"}}, "deep", id="nested-error"),
        pytest.param({"errors": [{"detail": "first"}]}, "first", id="errors-list"),
        pytest.param({"error": "plain"}, "plain", id="error-string"),
        pytest.param("  text body  ", "text body", id="text"),
        pytest.param({"unrelated": 1}, None, id="none"),
    ],
)
def test_upstream_message_shapes(body: Any, expected: str | None) -> None:
    assert upstream_message(body) == expected


# -- error expressions ---------------------------------------------------------


async def test_error_expression_turns_2xx_into_error(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream,
        Reply(200, json={"ok": False, "error": "channel_not_found"}),
        error_expression="data.ok = false ? data.error",
    )

    with pytest.raises(UpstreamError, match=r"status 200: channel_not_found"):
        await call(engine, config)


async def test_error_expression_turns_4xx_into_success(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream,
        Reply(404, json={"results": []}),
        error_expression="status >= 500",
    )

    page = await call(engine, config)

    assert page.status == 404
    assert page.result == {"results": []}


async def test_error_expression_object_sets_status(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream,
        Reply(200, json={"code": "AUTH_EXPIRED"}),
        error_expression=(
            "data.code = 'AUTH_EXPIRED' ? "
            "{ 'status': 401, 'message': 'session expired' }"
        ),
    )

    with pytest.raises(AuthenticationError, match=r"session expired"):
        await call(engine, config)


async def test_method_error_expression_replaces_integration(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream,
        Reply(200, json={"status": "failed"}),
        error_expression="false",
        method={"error_expression": "data.status = 'failed'"},
    )

    with pytest.raises(UpstreamError, match=r"status 200"):
        await call(engine, config)


async def test_truto_error_expression_example(engine: Engine, upstream: Vendor) -> None:
    config = answer_config(
        upstream,
        Reply(200, json={"error": "quota"}),
        error_expression="status >= 400 or $exists(data.error)",
    )

    with pytest.raises(UpstreamError, match=r"quota"):
        await call(engine, config)


async def test_broken_error_expression_falls_back_to_status(
    engine: Engine, upstream: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="config_engine.responses")
    config = answer_config(
        upstream, Reply(200, json={"a": 1}), error_expression="data.("
    )

    page = await call(engine, config)

    assert page.result == {"a": 1}
    assert (
        "error_expression_failed path=resources.echo.call.error_expression"
        in caplog.text
    )


async def test_broken_error_expression_still_raises_on_4xx(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream, Reply(404, json={}), error_expression="$error('x')"
    )

    with pytest.raises(NotFoundError):
        await call(engine, config)


# -- forbidden and scopes ------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "scopes"),
    [
        pytest.param(
            Reply(
                403,
                headers={
                    "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="a b"'
                },
            ),
            ["a", "b"],
            id="rfc6750",
        ),
        pytest.param(
            Reply(
                403,
                headers={
                    "X-Accepted-OAuth-Scopes": "repo, user",
                    "X-OAuth-Scopes": "user",
                },
            ),
            ["repo"],
            id="github",
        ),
        pytest.param(
            Reply(403, json={"ok": False, "needed": "chat:write"}),
            ["chat:write"],
            id="slack",
        ),
        pytest.param(
            Reply(403, json={"missing_scopes": ["x", "y"]}), ["x", "y"], id="body-list"
        ),
        pytest.param(Reply(403, json={"message": "forbidden"}), [], id="unspecified"),
    ],
)
async def test_forbidden_lists_missing_scopes(
    engine: Engine, upstream: Vendor, reply: Reply, scopes: list[str]
) -> None:
    with pytest.raises(ForbiddenError) as caught:
        await call(engine, answer_config(upstream, reply))

    assert caught.value.missing_scopes == scopes


async def test_validation_forbidden_names_scopes(
    engine: Engine, upstream: Vendor
) -> None:
    context = api_key_context(upstream, scopes=set())

    with pytest.raises(ForbiddenError, match=r"status 403") as caught:
        await engine.request(api_config(upstream), context, "me", "get")

    assert caught.value.missing_scopes == ["read", "contacts:read"]


async def test_validation_unknown_key_is_authentication_error(
    engine: Engine, upstream: Vendor
) -> None:
    with pytest.raises(AuthenticationError, match=r"status 401") as caught:
        await engine.request(
            api_config(upstream), {"api_key": "key-revoked-000000"}, "me", "get"
        )

    assert "key-revoked-000000" not in caught.value.message


# -- redaction -----------------------------------------------------------------


async def test_echoed_credential_is_redacted(engine: Engine, upstream: Vendor) -> None:
    reply = Reply(400, json={"message": f"bad key {API_KEY} for this account"})
    upstream.script("/api/me", reply)

    with pytest.raises(UpstreamError) as caught:
        await engine.request(
            api_config(upstream), api_key_context(upstream), "me", "get"
        )

    assert API_KEY not in caught.value.message
    assert API_KEY not in str(caught.value)
    assert "bad key [redacted] for this account" in caught.value.message


async def test_echoed_basic_password_is_redacted(
    engine: Engine, upstream: Vendor
) -> None:
    config = answer_config(
        upstream,
        Reply(401, json={"message": "user ada with password s3cr3t-pass rejected"}),
        authorization={
            "format": "basic",
            "config": {"username": "ada", "password": "{{pw}}"},
        },
    )

    with pytest.raises(AuthenticationError) as caught:
        await call(engine, config, {"pw": "s3cr3t-pass"})

    assert "s3cr3t-pass" not in caught.value.message


async def test_context_secrets_are_redacted(engine: Engine, upstream: Vendor) -> None:
    context = {
        "oauth": {
            "token": {"access_token": "tok-abcdef", "refresh_token": "ref-ghijkl"}
        }
    }
    reply = Reply(500, text="upstream dump: tok-abcdef ref-ghijkl")
    config = answer_config(upstream, reply, method={"method": "post"})

    with pytest.raises(UpstreamUnavailableError) as caught:
        await call(engine, config, context)

    assert "tok-abcdef" not in caught.value.message
    assert "ref-ghijkl" not in caught.value.message


def test_redactor_replaces_longest_first() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])

    assert redactor.redact("x abcdefgh y abcd") == "x [redacted] y [redacted]"


def test_redactor_ignores_short_values() -> None:
    assert Redactor(["ab"]).redact("about") == "about"


async def test_long_messages_are_shortened(engine: Engine, upstream: Vendor) -> None:
    config = answer_config(upstream, Reply(422, json={"message": "x" * 5000}))

    with pytest.raises(UpstreamError) as caught:
        await call(engine, config)

    assert len(caught.value.message) <= 300


# -- response paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("data.items", [1, 2], id="nested"),
        pytest.param("data.items.1", 2, id="index"),
        pytest.param("data.items.-1", 2, id="negative-index"),
        pytest.param("data.items.9", None, id="index-out-of-range"),
        pytest.param("data.missing.deeper", None, id="missing"),
        pytest.param("", {"data": {"items": [1, 2]}}, id="root"),
    ],
)
def test_lookup_path(path: str, expected: Any) -> None:
    assert lookup_path({"data": {"items": [1, 2]}}, path) == expected


async def test_response_path_selects_records(engine: Engine, upstream: Vendor) -> None:
    config = answer_config(
        upstream,
        Reply(200, json={"data": {"rows": [{"id": 1}]}}),
        method={"response_path": "data.rows"},
    )

    page = await call(engine, config)

    assert page.records == [{"id": 1}]
