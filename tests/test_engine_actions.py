"""Actions: ordered steps, context changes, step records, sandbox rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import (
    AuthenticationError,
    ConfigError,
    ForbiddenError,
    SandboxWriteError,
)
from tests.upstream.helpers import RecordingSleep, api_config, api_key_context
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

SHARED = Path(__file__).parents[1] / ".." / "shared"
POST_INSTALL_EXAMPLE = (
    SHARED / "truto-examples" / "configs" / "25-actions-post-install.json"
)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep())


def with_actions(vendor: Vendor, actions: dict[str, Any]) -> dict[str, Any]:
    return api_config(vendor, actions=actions)


async def test_truto_post_install_example_stores_org_id(
    engine: Engine, upstream: Vendor
) -> None:
    example = json.loads(POST_INSTALL_EXAMPLE.read_text())["example"]
    config = api_config(
        upstream, base_url=upstream.url("/api"), actions=example["actions"]
    )
    config["actions"]["post_install"]["steps"][0]["config"]["path"] = "/account"

    run = await engine.run_action(config, api_key_context(upstream), "post_install")

    assert run.ok
    assert run.context["org_id"] == "org_123"
    assert run.context["plan"] == "pro"
    assert run.context_changes == {"org_id": "org_123", "plan": "pro"}


async def test_step_records_describe_each_step(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "post_install": {
            "steps": [
                {
                    "type": "request",
                    "name": "account",
                    "config": {"path": "/account", "response_path": "data"},
                },
                {
                    "type": "transform",
                    "config": {"expression": "$previous.subscription.plan"},
                },
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), api_key_context(upstream), "post_install"
    )

    first, second = run.steps
    assert first.as_dict() | {"duration_ms": 0} == {
        "index": 0,
        "type": "request",
        "name": "account",
        "outcome": "ok",
        "duration_ms": 0,
        "request_method": "GET",
        "request_path": f"/{upstream.namespace}/api/account",
        "status": 200,
        "error": None,
    }
    assert first.duration_ms > 0
    assert second.outcome == "ok"
    assert run.output == "pro"


async def test_outputs_feed_the_next_request(engine: Engine, upstream: Vendor) -> None:
    upstream.script("/api/orgs/org_123/settings", Reply(200, json={"region": "eu"}))
    actions = {
        "post_install": {
            "steps": [
                {
                    "type": "request",
                    "config": {"path": "/account", "response_path": "data"},
                },
                {"type": "transform", "config": "{ 'org': $previous.id }"},
                {
                    "type": "request",
                    "config": {"path": "/orgs/{{previous.org}}/settings"},
                },
                {
                    "type": "update_context",
                    "config": {
                        "expression": (
                            "{ 'region': $previous.region, 'first_org': steps[0].id }"
                        )
                    },
                },
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), api_key_context(upstream), "post_install"
    )

    assert run.ok
    assert run.context["region"] == "eu"
    assert run.context["first_org"] == "org_123"


async def test_set_and_get_context(engine: Engine, upstream: Vendor) -> None:
    actions = {
        "custom": {
            "steps": [
                {
                    "type": "set_context",
                    "config": {"mode": "sync", "label": "key {{api_key}}"},
                },
                {"type": "get_context", "config": {"path": "mode"}},
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), {"api_key": "k"}, "custom"
    )

    assert run.context["label"] == "key k"
    assert run.output == "sync"
    assert run.context_changes == {"mode": "sync", "label": "key k"}


async def test_update_context_merges_previous_output(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "custom": {
            "steps": [
                {"type": "transform", "config": "{ 'a': 1 }"},
                {"type": "update_context"},
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), {"keep": True}, "custom"
    )

    assert run.context == {"keep": True, "a": 1}


async def test_context_merge_is_shallow_and_keeps_env_virtual(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "custom": {
            "steps": [
                {
                    "type": "update_context",
                    "config": {
                        "expression": (
                            "{ 'settings': { 'b': 2 }, "
                            "'environment_variables': { 'x': 1 } }"
                        )
                    },
                }
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), {"settings": {"a": 1}}, "custom"
    )

    assert run.context == {"settings": {"b": 2}}


async def test_run_if_skips_step(engine: Engine, upstream: Vendor) -> None:
    actions = {
        "custom": {
            "steps": [
                {
                    "type": "set_context",
                    "run_if": "context.plan = 'pro'",
                    "config": {"x": 1},
                },
                {
                    "type": "set_context",
                    "run_if": "context.plan = 'free'",
                    "config": {"y": 1},
                },
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), {"plan": "free"}, "custom"
    )

    assert [step.outcome for step in run.steps] == ["skipped", "ok"]
    assert run.context_changes == {"y": 1}


async def test_failing_step_stops_the_run(engine: Engine, upstream: Vendor) -> None:
    actions = {
        "validation": {
            "steps": [
                {"type": "set_context", "config": {"checked": True}},
                {"type": "request", "config": {"path": "/me"}},
                {"type": "set_context", "config": {"after": True}},
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions), {"api_key": "revoked-key-1"}, "validation"
    )

    assert not run.ok
    assert isinstance(run.error, AuthenticationError)
    assert [step.outcome for step in run.steps] == ["ok", "error", "skipped"]
    failed = run.steps[1]
    assert failed.status == 401
    assert failed.request_method == "GET"
    assert failed.request_path == "/me"
    assert "revoked-key-1" not in (failed.error or "")
    assert "after" not in run.context
    with pytest.raises(AuthenticationError):
        run.raise_for_error()


async def test_validation_forbidden_is_recorded(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "validation": {"steps": [{"type": "request", "config": {"path": "/me"}}]}
    }

    run = await engine.run_action(
        with_actions(upstream, actions),
        api_key_context(upstream, scopes=set()),
        "validation",
    )

    assert isinstance(run.error, ForbiddenError)
    assert run.error.missing_scopes == ["read", "contacts:read"]
    assert run.as_record()["error_code"] == "FORBIDDEN"


async def test_action_record_is_json_ready(engine: Engine, upstream: Vendor) -> None:
    actions = {"custom": {"steps": [{"type": "set_context", "config": {"x": 1}}]}}

    run = await engine.run_action(with_actions(upstream, actions), {}, "custom")

    record = run.as_record()
    assert json.loads(json.dumps(record)) == record
    assert record["ok"] is True
    assert record["context_keys_changed"] == ["x"]


async def test_step_config_error_is_recorded(engine: Engine, upstream: Vendor) -> None:
    actions = {
        "custom": {"steps": [{"type": "transform", "config": "$undefinedFunction()"}]}
    }

    run = await engine.run_action(with_actions(upstream, actions), {}, "custom")

    assert isinstance(run.error, ConfigError)
    assert run.error.path == "actions.custom.steps.0.config.expression"


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        pytest.param(
            {},
            r"actions\.missing: no action named 'missing' is configured",
            id="missing",
        ),
        pytest.param(
            {"missing": {"steps": [{"type": "form"}]}},
            r"actions\.missing\.steps\.0\.type: unknown step type 'form'",
            id="step-type",
        ),
        pytest.param(
            {"missing": {"steps": "x"}}, r"an action needs a list of steps", id="steps"
        ),
    ],
)
async def test_bad_action_config(
    engine: Engine, upstream: Vendor, actions: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        await engine.run_action(with_actions(upstream, actions), {}, "missing")


async def test_update_context_rejects_non_object(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "custom": {
            "steps": [{"type": "update_context", "config": {"expression": "42"}}]
        }
    }

    run = await engine.run_action(with_actions(upstream, actions), {}, "custom")

    assert isinstance(run.error, ConfigError)
    assert (
        "expected an object to merge into the context, received 42" in run.error.message
    )


async def test_sandbox_custom_action_cannot_write(
    engine: Engine, upstream: Vendor
) -> None:
    actions = {
        "create_webhook": {
            "steps": [
                {"type": "request", "config": {"method": "post", "path": "/contacts"}}
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions),
        api_key_context(upstream),
        "create_webhook",
        sandbox=True,
    )

    assert isinstance(run.error, SandboxWriteError)
    assert upstream.hits("/api/contacts") == []


async def test_sandbox_post_install_may_write(engine: Engine, upstream: Vendor) -> None:
    actions = {
        "post_install": {
            "steps": [
                {
                    "type": "request",
                    "config": {
                        "method": "post",
                        "path": "/contacts",
                        "body": {"name": "hook"},
                    },
                }
            ]
        }
    }

    run = await engine.run_action(
        with_actions(upstream, actions),
        api_key_context(upstream),
        "post_install",
        sandbox=True,
    )

    assert run.ok
    assert upstream.hits("/api/contacts")[0].json() == {"name": "hook"}
