"""The log filter: credentials in messages, arguments and tracebacks are replaced."""

from __future__ import annotations

import logging

import pytest

from graphql_api.security.logs import REDACTED, RedactSecrets, redact_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param(
            "Authorization: Bearer abcdefgh12345678", "abcdefgh12345678", id="bearer"
        ),
        pytest.param(
            "authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA",
            id="basic",
        ),
        pytest.param("Cookie: session=s3ss10n; theme=dark", "s3ss10n", id="cookie"),
        pytest.param("token gapi_0123456789abcdef", "0123456789abcdef", id="api-token"),
        pytest.param(
            "GET /x?access_token=at-9999&page=2", "at-9999", id="query-string"
        ),
        pytest.param("api_key=k-4242 status=401", "k-4242", id="key-value"),
        pytest.param('{"client_secret": "cs-1", "name": "x"}', "cs-1", id="json"),
        pytest.param("{'password': 'pw-7'}", "pw-7", id="python-repr"),
        pytest.param('{"tokens": ["t-1", "t-2"]}', "t-1", id="json-list"),
        pytest.param(
            "postgresql://app:hunter2@127.0.0.1/db", "hunter2", id="url-password"
        ),
        pytest.param(
            "Authorization: Bearer <token>abc-77", "abc-77", id="placeholder-prefix"
        ),
    ],
)
def test_credential_is_redacted(text: str, secret: str) -> None:
    redacted = redact_text(text)

    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "request_completed request_id=ab12 method=POST path=/graphql status=200",
            id="request-line",
        ),
        pytest.param(
            "Unknown API token: check the token or create a new one.", id="prose"
        ),
        pytest.param("token_url=http://127.0.0.1:9/oauth/token", id="endpoint"),
        pytest.param('{"subdomain": "acme", "token_id": "t"}', id="plain-json"),
        pytest.param(
            "reason=\"Missing API token: send the header 'Authorization: Bearer "
            "<token>'.\"",
            id="header-placeholder",
        ),
    ],
)
def test_plain_text_is_kept(text: str) -> None:
    assert redact_text(text) == text


def _record(
    message: str, *args: object, name: str = "graphql_api.test"
) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_filter_redacts_arguments() -> None:
    record = _record(
        "upstream_failed headers=%s", {"authorization": "Bearer secret-123456"}
    )

    RedactSecrets().filter(record)

    assert "secret-123456" not in record.getMessage()


def test_filter_redacts_pair_split_across_argument() -> None:
    record = _record("api_key=%s", "k-plain-value")

    RedactSecrets().filter(record)

    assert record.getMessage() == f"api_key={REDACTED}"


def test_filter_keeps_access_log_arguments() -> None:
    record = _record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/graphql?api_key=k-77777",
        "1.1",
        200,
        name="uvicorn.access",
    )

    RedactSecrets().filter(record)

    assert isinstance(record.args, tuple)
    assert len(record.args) == 5
    assert record.args[2] == f"/graphql?api_key={REDACTED}"


def test_filter_redacts_traceback() -> None:
    try:
        raise ValueError("password=pw-in-exception")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "graphql_api.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    RedactSecrets().filter(record)

    assert record.exc_text is not None
    assert "pw-in-exception" not in record.exc_text
    assert "ValueError" in record.exc_text
