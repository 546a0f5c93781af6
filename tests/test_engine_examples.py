"""Truto's documented config examples, run by the engine against a local vendor.

Each example keeps its shape; only the base URL is overridden to the vendor
on 127.0.0.1, as an environment integration's override would do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import UpstreamError
from config_engine.merge import effective_config
from tests.upstream.helpers import API_KEY, RecordingSleep, api_config, api_key_context
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

EXAMPLES = Path(__file__).parents[1] / ".." / "shared" / "truto-examples" / "configs"
ALL_IDS = list(range(1, 8))


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())["example"]
    return data


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep())


async def all_ids(
    engine: Engine, config: dict[str, Any], context: dict[str, Any]
) -> list[int]:
    pages = [page async for page in engine.iterate(config, context, "contacts", "list")]
    return [record["id"] for page in pages for record in page.records]


async def test_acme_crm_lists_every_contact(engine: Engine, upstream: Vendor) -> None:
    override = {
        "base_url": upstream.url("/api/cursor"),
        "pagination": {"config": {"cursor_path": "meta.next_cursor"}},
    }
    config = effective_config(example("02-acme-crm-edited.json"), override)

    ids = await all_ids(engine, config, api_key_context(upstream))

    assert ids == ALL_IDS
    assert upstream.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert upstream.requests[0].query == []
    assert upstream.requests[1].query == [("cursor", "c3")]


async def test_dynamic_override_pages_through(engine: Engine, upstream: Vendor) -> None:
    base = api_config(upstream, base_url=upstream.url("/api/dynamic"))
    base["resources"]["contacts"]["list"] = {
        "path": "/contacts",
        "response_path": "items",
    }
    config = effective_config(
        base, example("28-override-pagination-dynamic.json")["override"]
    )

    ids = await all_ids(engine, config, api_key_context(upstream))

    assert ids == ALL_IDS
    assert [request.query for request in upstream.requests] == [
        [("page", "1")],
        [("page", "2")],
        [("page", "3")],
    ]


async def test_dynamic_page_cap_example(engine: Engine, upstream: Vendor) -> None:
    upstream.contacts = [{"id": n} for n in range(1, 400)]
    upstream.page_size = 1
    base = api_config(upstream, base_url=upstream.url("/api/dynamic"))
    base["resources"]["contacts"]["list"] = {
        "path": "/contacts",
        "response_path": "items",
    }
    base["pagination"] = example("16-pagination-dynamic-page-cap.json")

    ids = await all_ids(engine, base, api_key_context(upstream))

    assert len(ids) == 50


async def test_rate_limit_override_example(engine: Engine, upstream: Vendor) -> None:
    upstream.script(
        "/api/me",
        Reply(403, headers={"X-Rate-Limit-Remaining": "0", "Retry-After": "3"}),
        Reply(200, json={"id": "user_1"}),
    )
    config = effective_config(
        api_config(upstream), example("29-override-rate-limit.json")["override"]
    )

    page = await engine.request(config, api_key_context(upstream), "me", "get")

    assert page.result == {"id": "user_1"}
    assert [wait.seconds for wait in page.waits] == [3.0]


async def test_error_expression_override_example(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/api/me", Reply(200, json={"error": "account suspended"}))
    config = effective_config(
        api_config(upstream), example("26-override-error-expression.json")["override"]
    )

    with pytest.raises(UpstreamError, match=r"account suspended"):
        await engine.request(config, api_key_context(upstream), "me", "get")


async def test_authorization_expression_override_example(
    engine: Engine, upstream: Vendor
) -> None:
    config = effective_config(
        api_config(upstream, base_url=upstream.base_url),
        example("27-override-authorization-expression.json")["override"],
    )
    config["resources"]["echo"] = {"call": {"path": "/echo"}}

    page = await engine.request(
        config, {"access_token": "t-1", "tenant_id": "ten-1"}, "echo", "call"
    )

    assert page.result["headers"]["authorization"] == "Bearer t-1"
    assert page.result["headers"]["x-tenant"] == "ten-1"


async def test_bearer_override_example(engine: Engine, upstream: Vendor) -> None:
    config = effective_config(
        api_config(upstream, base_url=upstream.base_url),
        example("31-override-authorization-bearer.json")["override"],
    )
    config["resources"]["echo"] = {"call": {"path": "/echo"}}

    page = await engine.request(
        config, {"oauth": {"token": {"access_token": "o-7"}}}, "echo", "call"
    )

    assert page.result["headers"]["authorization"] == "Bearer o-7"


async def test_context_headers_example(engine: Engine, upstream: Vendor) -> None:
    config = {
        "base_url": upstream.base_url,
        **example("11-headers-context-placeholders.json"),
        "resources": {"echo": {"call": {"path": "/echo"}}},
    }

    page = await engine.request(
        config, {"api_key": "k-11", "org_id": "o-11"}, "echo", "call"
    )

    assert page.result["headers"]["x-api-key"] == "k-11"
    assert page.result["headers"]["x-org-id"] == "o-11"
