"""Inbound webhooks: signatures, handshakes and payload transforms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import ConfigError, PlaceholderError
from config_engine.webhooks import InboundRequest

EXAMPLES = Path(__file__).parents[1] / ".." / "shared" / "truto-examples" / "configs"
SECRET = "whsec-test-0123456789"
BODY = (
    b'{"events":[{"type":"contact.created","object_id":"c1","object_type":"contact"}]}'
)


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())["example"]
    return data


def webhook_section(name: str) -> dict[str, Any]:
    """The `webhook` block of an example, whether keyed, bare or an override."""
    data = example(name)
    if "override" in data:
        data = data["override"]
    if "webhook" in data:
        section: dict[str, Any] = data["webhook"]
        return section
    if data.get("format"):
        return {"signature_verification": data}
    return data


def sign(body: bytes, secret: str = SECRET, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


def inbound(
    headers: dict[str, str], body: bytes = BODY, **kwargs: Any
) -> InboundRequest:
    return InboundRequest(
        method="POST",
        headers={"Content-Type": "application/json", **headers},
        body=body,
        **kwargs,
    )


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client)


def verify(
    engine: Engine,
    webhook: dict[str, Any],
    request: InboundRequest,
    context: dict[str, Any] | None = None,
) -> Any:
    config = {"webhook": webhook}
    return engine.verify_webhook(
        config, context if context is not None else {"webhook_secret": SECRET}, request
    )


# -- HMAC -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "header"),
    [
        pytest.param("19-webhook-hmac-signature.json", "X-Acme-Signature", id="19"),
        pytest.param(
            "23-webhook-signature-verification-hmac.json", "X-Signature", id="23"
        ),
        pytest.param(
            "24-webhook-signature-verification-hmac-cli.json", "X-Signature", id="24"
        ),
    ],
)
def test_example_hmac_accepts_valid_signature(
    engine: Engine, name: str, header: str
) -> None:
    result = verify(engine, webhook_section(name), inbound({header: sign(BODY)}))

    assert result.verified
    assert result.signature_checked


@pytest.mark.parametrize(
    ("headers", "failure"),
    [
        pytest.param({}, "signature header.x-acme-signature is missing", id="missing"),
        pytest.param({"X-Acme-Signature": ""}, "is missing", id="empty"),
        pytest.param(
            {"X-Acme-Signature": sign(b"other body")},
            "signature does not match",
            id="wrong",
        ),
        pytest.param(
            {"X-Acme-Signature": sign(BODY, "other-secret")},
            "does not match",
            id="wrong-secret",
        ),
        pytest.param(
            {"X-Acme-Signature": "zz-not-hex"},
            "signature is not valid hex",
            id="not-hex",
        ),
        pytest.param(
            {"X-Acme-Signature": sign(BODY)[:-2]}, "does not match", id="truncated"
        ),
    ],
)
def test_example_hmac_rejects(
    engine: Engine, headers: dict[str, str], failure: str
) -> None:
    result = verify(
        engine, webhook_section("19-webhook-hmac-signature.json"), inbound(headers)
    )

    assert not result.verified
    assert failure in (result.failure or "")
    assert result.events == []


def test_hmac_signs_raw_body_bytes(engine: Engine) -> None:
    body = b'{ "spaced" :  "json", "unicode": "\\u00e9" }'
    webhook = webhook_section("19-webhook-hmac-signature.json")

    result = verify(
        engine, webhook, inbound({"X-Acme-Signature": sign(body)}, body=body)
    )

    assert result.verified


def test_hex_signature_compares_case_insensitively(engine: Engine) -> None:
    webhook = webhook_section("19-webhook-hmac-signature.json")

    result = verify(engine, webhook, inbound({"X-Acme-Signature": sign(BODY).upper()}))

    assert result.verified


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_algorithms_and_encodings(
    engine: Engine, algorithm: str, encoding: str
) -> None:
    digest = hmac.new(SECRET.encode(), BODY, getattr(hashlib, algorithm)).digest()
    signature = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    webhook = {
        "signature_verification": {
            "format": "hmac",
            "config": {
                "algorithm": algorithm,
                "encoding": encoding,
                "secret": "{{webhook_secret}}",
                "parts": ["$body"],
                "compare_with": "$header.x-hub-signature",
            },
        }
    }

    assert verify(engine, webhook, inbound({"X-Hub-Signature": signature})).verified
    assert not verify(
        engine, webhook, inbound({"X-Hub-Signature": signature}, body=b"{}")
    ).verified


def test_slack_parts_and_prefix(engine: Engine) -> None:
    webhook = webhook_section("22-webhook-slack-full.json")
    timestamp = "1700000000"
    event = {"type": "message", "user": "U1", "channel": "C1"}
    body = json.dumps(
        {"type": "event_callback", "team_id": "T1", "event": event}
    ).encode()
    signature = (
        "v0="
        + hmac.new(
            SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
        ).hexdigest()
    )
    request = inbound(
        {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature},
        body=body,
    )

    result = verify(engine, webhook, request, {"signing_secret": SECRET})

    assert result.verified
    assert result.events == [
        {
            "event_type": "message",
            "resource_id": "U1",
            "channel": "C1",
            "team": "T1",
            "raw": json.loads(body),
        }
    ]


def test_slack_signature_without_prefix_fails(engine: Engine) -> None:
    webhook = webhook_section("22-webhook-slack-full.json")
    digest = hmac.new(SECRET.encode(), b"v0:1:" + BODY, hashlib.sha256).hexdigest()
    request = inbound({"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": digest})

    result = verify(engine, webhook, request, {"signing_secret": SECRET})

    assert result.failure == "signature does not start with 'v0='"


def test_slack_missing_timestamp_fails(engine: Engine) -> None:
    webhook = webhook_section("22-webhook-slack-full.json")

    result = verify(
        engine,
        webhook,
        inbound({"X-Slack-Signature": "v0=00"}),
        {"signing_secret": SECRET},
    )

    assert (
        result.failure == "header.x-slack-request-timestamp is missing from the request"
    )


def test_missing_secret_is_placeholder_error(engine: Engine) -> None:
    webhook = webhook_section("19-webhook-hmac-signature.json")

    with pytest.raises(
        PlaceholderError, match=r"webhook\.signature_verification\.config\.secret"
    ):
        verify(engine, webhook, inbound({"X-Acme-Signature": "00"}), context={})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"algorithm": "md5"},
            r"config\.algorithm: unknown algorithm 'md5'",
            id="algorithm",
        ),
        pytest.param(
            {"encoding": "base32"},
            r"config\.encoding: unknown encoding 'base32'",
            id="encoding",
        ),
        pytest.param(
            {"compare_with": "x-signature"},
            r"compare_with must name",
            id="compare-with",
        ),
    ],
)
def test_bad_hmac_config(engine: Engine, config: dict[str, Any], message: str) -> None:
    webhook = {
        "signature_verification": {
            "format": "hmac",
            "config": {
                "secret": "{{webhook_secret}}",
                "compare_with": "$header.x-sig",
                **config,
            },
        }
    }

    with pytest.raises(ConfigError, match=message):
        verify(engine, webhook, inbound({"X-Sig": "00"}))


def test_unknown_signature_format(engine: Engine) -> None:
    webhook = {"signature_verification": {"format": "jwt", "config": {}}}

    with pytest.raises(
        ConfigError, match=r"unknown signature verification format 'jwt'"
    ):
        verify(engine, webhook, inbound({}))


# -- basic and bearer ---------------------------------------------------------------


BASIC_WEBHOOK = {
    "signature_verification": {
        "format": "basic",
        "config": {"username": "{{hook_user}}", "password": "{{hook_password}}"},
    }
}
BASIC_CONTEXT = {"hook_user": "vendor", "hook_password": "pw-0123"}


@pytest.mark.parametrize(
    ("authorization", "failure"),
    [
        pytest.param(
            "Basic " + base64.b64encode(b"vendor:pw-0123").decode(), None, id="valid"
        ),
        pytest.param(
            "Basic " + base64.b64encode(b"vendor:wrong").decode(),
            "do not match",
            id="wrong",
        ),
        pytest.param("Basic !!!", "not valid base64", id="garbage"),
        pytest.param("Bearer x", "header is missing", id="other-scheme"),
        pytest.param(None, "header is missing", id="absent"),
    ],
)
def test_basic_verification(
    engine: Engine, authorization: str | None, failure: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    result = verify(engine, BASIC_WEBHOOK, inbound(headers), BASIC_CONTEXT)

    assert result.verified is (failure is None)
    assert failure is None or failure in (result.failure or "")


@pytest.mark.parametrize(
    ("authorization", "verified"),
    [
        pytest.param("Bearer hook-token-1", True, id="valid"),
        pytest.param("bearer hook-token-1", True, id="scheme-case"),
        pytest.param("Bearer hook-token-2", False, id="wrong"),
        pytest.param("Bearer ", False, id="empty"),
        pytest.param(None, False, id="absent"),
    ],
)
def test_bearer_verification(
    engine: Engine, authorization: str | None, verified: bool
) -> None:
    webhook = {
        "signature_verification": {
            "format": "bearer",
            "config": {"token": "{{hook_token}}"},
        }
    }
    headers = {"Authorization": authorization} if authorization else {}

    result = verify(engine, webhook, inbound(headers), {"hook_token": "hook-token-1"})

    assert result.verified is verified


# -- handshakes and transforms --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("20-webhook-handle-verification.json", id="20"),
        pytest.param("22-webhook-slack-full.json", id="22"),
        pytest.param("30-override-webhook.json", id="30"),
    ],
)
def test_example_handshake_echoes_challenge(engine: Engine, name: str) -> None:
    webhook = {
        k: v for k, v in webhook_section(name).items() if k != "signature_verification"
    }
    body = b'{"type": "url_verification", "challenge": "abc123"}'

    result = verify(engine, webhook, inbound({}, body=body))

    assert result.verification_response is not None
    assert result.verification_response.status == 200
    assert result.verification_response.body == "abc123"
    assert result.events == []


def test_handshake_null_falls_through(engine: Engine) -> None:
    webhook = webhook_section("20-webhook-handle-verification.json")

    result = verify(engine, webhook, inbound({}))

    assert result.verification_response is None
    assert result.events == [json.loads(BODY)]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        pytest.param(
            "21-webhook-payload-transform.json",
            {
                "event_type": "contact.created",
                "resource_id": "c1",
                "resource_type": "contact",
            },
            id="21",
        ),
        pytest.param(
            "30-override-webhook.json",
            {"event_type": "contact.created", "resource_id": "c1"},
            id="30",
        ),
    ],
)
def test_example_payload_transform(
    engine: Engine, name: str, first: dict[str, Any]
) -> None:
    result = verify(engine, webhook_section(name), inbound({}))

    event = result.events[0]
    assert {key: event[key] for key in first} == first
    assert event["raw"] == json.loads(BODY)["events"][0]


def test_signature_runs_before_handshake(engine: Engine) -> None:
    webhook = {
        **webhook_section("19-webhook-hmac-signature.json"),
        **webhook_section("20-webhook-handle-verification.json"),
    }
    body = b'{"challenge": "abc"}'

    result = verify(engine, webhook, inbound({"X-Acme-Signature": "00"}, body=body))

    assert not result.verified
    assert result.verification_response is None


def test_form_body_and_query_reach_expressions(engine: Engine) -> None:
    webhook = {
        "payload_transform": (
            "{ 'command': body.command, 'team': query.team, 'verb': method }"
        )
    }
    request = InboundRequest(
        method="post",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"command=%2Fdeploy&text=now",
        query={"team": "T9"},
    )

    result = verify(engine, webhook, request)

    assert result.events == [{"command": "/deploy", "team": "T9", "verb": "POST"}]


def test_bad_handshake_result(engine: Engine) -> None:
    webhook = {"handle_verification": "{ 'statusCode': 999 }"}

    with pytest.raises(
        ConfigError,
        match=r"webhook\.handle_verification: statusCode must be an HTTP status",
    ):
        verify(engine, webhook, inbound({}))


def test_broken_transform_names_path(engine: Engine) -> None:
    with pytest.raises(
        ConfigError, match=r"webhook\.payload_transform: the expression failed"
    ):
        verify(engine, {"payload_transform": "$.body.("}, inbound({}))
