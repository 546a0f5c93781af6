"""Requests assembled in place: template, pagination and authorization steps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.http import PreparedRequest, RequestDraft, encode_query
from config_engine.method_cache import request_header_names
from config_engine.pagination import PageState, Pagination

BASE_URL = "http://127.0.0.1:9/api"
CONTEXT: dict[str, Any] = {
    "token": "t-123456",
    "extra": {"AUTHORIZATION": "stale", "X-Extra": "1"},
}


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client)


def config_with(method: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "base_url": BASE_URL,
        "authorization": {"format": "bearer"},
        "resources": {"contacts": {"list": {"method": "get", **method}}},
        **settings,
    }


@pytest.mark.parametrize("use", [1, 2, 3], ids=["direct", "compiled", "cached"])
async def test_merged_header_yields_to_authorization(engine: Engine, use: int) -> None:
    config = config_with(
        {"path": "/contacts"},
        headers={"Accept": "application/json", "$truto_merge": "{{extra:any}}"},
    )

    for _ in range(use):
        request = engine.prepare_request(config, CONTEXT, "contacts", "list")

    assert request.headers == {
        "Accept": "application/json",
        "X-Extra": "1",
        "Authorization": "Bearer t-123456",
    }
    assert request.secret_headers == frozenset({"authorization"})


async def test_config_header_yields_to_authorization(engine: Engine) -> None:
    config = config_with(
        {"path": "/contacts"}, headers={"authorization": "stale", "Accept": "*/*"}
    )

    for _ in range(2):
        request = engine.prepare_request(config, CONTEXT, "contacts", "list")

    assert request.headers == {"Accept": "*/*", "Authorization": "Bearer t-123456"}


async def test_cursor_header_yields_to_authorization(engine: Engine) -> None:
    pagination = {
        "format": "cursor",
        "config": {
            "cursor_path": "next",
            "cursor_location": "header",
            "cursor_param": "authorization",
        },
    }
    config = config_with({"path": "/contacts", "pagination": pagination})
    first = engine.prepare_request(config, CONTEXT, "contacts", "list")
    cursor = Pagination(pagination, path="p", max_pages=10).encode(
        PageState("cursor", {"cursor": "c-2"}, 1)
    )

    request = engine.prepare_request(config, CONTEXT, "contacts", "list", cursor=cursor)

    assert "authorization" not in first.headers
    assert request.headers == {"Authorization": "Bearer t-123456"}


async def test_page_query_replaces_config_value(engine: Engine) -> None:
    pagination = {
        "format": "page",
        "config": {"page_param": "page", "limit_param": "limit", "limit": 50},
    }
    config = config_with(
        {
            "path": "/contacts",
            "query": {"page": "9", "owner": "{{query.owner}}"},
            "pagination": pagination,
        }
    )

    request = engine.prepare_request(
        config, CONTEXT, "contacts", "list", query={"owner": "u_1", "tags": ["a"]}
    )

    assert request.query == (
        ("owner", "u_1"),
        ("tags", "a"),
        ("limit", "50"),
        ("page", "1"),
    )


def test_apply_keeps_secret_fields() -> None:
    pagination = Pagination(
        {"format": "offset", "config": {"limit_param": "limit", "limit": 10}},
        path="p",
        max_pages=10,
    )
    request = PreparedRequest(
        "GET",
        f"{BASE_URL}/contacts",
        (("limit", "5"), ("q", "x")),
        {"Authorization": "Bearer t-123456"},
        secret_headers=frozenset({"authorization"}),
        secret_values=frozenset({"t-123456"}),
    )

    positioned = pagination.apply(request, PageState("offset", {"offset": 20}))

    assert positioned.query == (("q", "x"), ("limit", "10"), ("offset", "20"))
    assert positioned.secret_headers == frozenset({"authorization"})
    assert positioned.secret_values == frozenset({"t-123456"})
    assert request.query == (("limit", "5"), ("q", "x"))


def test_set_query_encodes_lists_repeated() -> None:
    draft = RequestDraft("GET", BASE_URL, [("ids", "1,2"), ("a", "b")], {})

    draft.set_query({"ids": [3, 4], "flag": True})

    assert draft.query == [("a", "b"), ("ids", "3"), ("ids", "4"), ("flag", "true")]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"headers": {"Accept": "x", "X-Key": "{{k}}"}},
            frozenset({"accept", "x-key", "content-type", "range"}),
            id="config-headers",
        ),
        pytest.param(
            {
                "pagination": {
                    "format": "cursor",
                    "config": {"cursor_location": "header", "cursor_param": "X-Next"},
                }
            },
            frozenset({"x-next", "content-type", "range"}),
            id="cursor-header",
        ),
        pytest.param(
            {"headers": {"$truto_merge": "{{extra:any}}"}}, None, id="merged-names"
        ),
        pytest.param({"headers": "{{headers}}"}, None, id="not-an-object"),
    ],
)
def test_request_header_names(
    settings: dict[str, Any], expected: frozenset[str] | None
) -> None:
    assert request_header_names(settings) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(7, [("v", "7")], id="int"),
        pytest.param(2.5, [("v", "2.5")], id="float"),
        pytest.param(True, [("v", "true")], id="bool"),
        pytest.param([1, False, None], [("v", "1,false")], id="list"),
        pytest.param((1, 2), [("v", "1,2")], id="tuple"),
        pytest.param([{"a": 1}], [("v", '{"a":1}')], id="list-of-objects"),
        pytest.param(
            {"a": 1, "b": [2, 3]}, [("v[a]", "1"), ("v[b]", "2,3")], id="object"
        ),
    ],
)
def test_encode_query_values(value: Any, expected: list[tuple[str, str]]) -> None:
    assert encode_query({"v": value}, "comma") == expected
