"""Pagination formats against a paginated vendor API, and their stop rules."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from config_engine.engine import Engine, EngineLimits, PageResult
from config_engine.errors import ConfigError, InvalidCursorError
from config_engine.http import PreparedRequest
from config_engine.pagination import Pagination, find_link, parse_link_header
from tests.upstream.helpers import RecordingSleep, api_config, api_key_context
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

ALL_IDS = list(range(1, 8))
SALESFORCE_DEMO = (
    Path(__file__).parents[1] / "graphql_api" / "demo" / "configs" / "salesforce.json"
)


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep(), limits=EngineLimits(max_pages=20))


def paged_config(
    vendor: Vendor, style: str, pagination: dict[str, Any] | None, **method: Any
) -> dict[str, Any]:
    config = api_config(vendor)
    config["resources"]["contacts"]["list"] = {
        "method": "get",
        "path": f"/{style}/contacts",
        **method,
    }
    if pagination is not None:
        config["resources"]["contacts"]["list"]["pagination"] = pagination
    return config


async def collect(
    engine: Engine, config: dict[str, Any], context: dict[str, Any], **kwargs: Any
) -> list[PageResult]:
    return [
        page
        async for page in engine.iterate(config, context, "contacts", "list", **kwargs)
    ]


def forge_cursor(fmt: str, position: dict[str, Any], **fields: Any) -> str:
    payload = {"v": 1, "f": fmt, "p": position, "n": 1, "h": [], **fields}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def ids(pages: list[PageResult]) -> list[int]:
    return [record["id"] for page in pages for record in page.records]


# -- Link header parsing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            '<https://a.test/p2>; rel="next"', "https://a.test/p2", id="plain"
        ),
        pytest.param(
            '<https://a.test/p9>; rel="last", <https://a.test/p2>; rel="next"',
            "https://a.test/p2",
            id="next-not-first",
        ),
        pytest.param(
            '<https://a.test/p2>; title="a, b; c"; rel="next"',
            "https://a.test/p2",
            id="rel-not-first-param",
        ),
        pytest.param(
            '<https://a.test/p2>; rel="nofollow next"', "https://a.test/p2", id="rels"
        ),
        pytest.param(
            "<https://a.test/p2>; REL=NEXT", "https://a.test/p2", id="upper-unquoted"
        ),
        pytest.param("</items?page=2>; rel=next", "/items?page=2", id="relative"),
        pytest.param(
            '<https://a.test/x?a=1,2>; rel="next"',
            "https://a.test/x?a=1,2",
            id="comma-in-url",
        ),
        pytest.param('<https://a.test/p1>; rel="prev"', None, id="no-next"),
        pytest.param("", None, id="empty"),
    ],
)
def test_find_next_link(header: str, expected: str | None) -> None:
    assert find_link(header, "next") == expected


def test_parse_link_header_keeps_parameters() -> None:
    links = parse_link_header('<a>; rel="next"; Type="text/html", <b>; rel=last')

    assert links == [
        ("a", {"rel": "next", "type": "text/html"}),
        ("b", {"rel": "last"}),
    ]


# -- each format through the engine --------------------------------------------


@pytest.mark.parametrize(
    ("style", "pagination", "method"),
    [
        pytest.param(
            "page",
            {
                "format": "page",
                "config": {"page_param": "page", "limit_param": "per_page", "limit": 3},
            },
            {"response_path": "data"},
            id="page",
        ),
        pytest.param(
            "offset",
            {"format": "offset", "config": {"limit_param": "limit", "limit": 3}},
            {"response_path": "data"},
            id="offset",
        ),
        pytest.param(
            "cursor",
            {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}},
            {"response_path": "results"},
            id="cursor-body",
        ),
        pytest.param(
            "cursor",
            {
                "format": "cursor",
                "config": {
                    "cursor_header": "X-Next-Cursor",
                    "cursor_param": "X-Cursor",
                    "cursor_location": "header",
                },
            },
            {"response_path": "results", "query": {"header_cursor": "1"}},
            id="cursor-headers",
        ),
        pytest.param(
            "cursor",
            {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}},
            {"response_path": "results", "query": {"url_cursor": "1"}},
            id="cursor-full-url",
        ),
        pytest.param("link", {"format": "link_header"}, {}, id="link-header"),
        pytest.param(
            "range", {"format": "range", "config": {"limit": 3}}, {}, id="range"
        ),
        pytest.param(
            "dynamic",
            {
                "format": "dynamic",
                "config": {
                    "get_initial_pagination_values_expression": '{ "page": 1 }',
                    "get_pagination_values_expression": (
                        "$exists(body.next_page) and body.next_page != null ? "
                        '{ "page": paginationValues.page + 1 } : null'
                    ),
                    "get_cursor_from_response_expression": (
                        "body.next_page ? $string(body.next_page) : undefined"
                    ),
                },
            },
            {"response_path": "items"},
            id="dynamic",
        ),
    ],
)
async def test_format_fetches_every_record(
    engine: Engine,
    upstream: Vendor,
    style: str,
    pagination: dict[str, Any],
    method: dict[str, Any],
) -> None:
    config = paged_config(upstream, style, pagination, **method)

    pages = await collect(engine, config, api_key_context(upstream))

    assert ids(pages) == ALL_IDS
    assert pages[-1].next_cursor is None
    assert all(page.next_cursor for page in pages[:-1])


@pytest.mark.parametrize(
    "style",
    [
        pytest.param("rel_not_first", id="rel-not-first"),
        pytest.param("multiple_rels", id="several-rels-upper-case-header"),
        pytest.param("relative", id="relative-url"),
    ],
)
async def test_link_header_variants(
    engine: Engine, upstream: Vendor, style: str
) -> None:
    upstream.link_style = style
    config = paged_config(upstream, "link", {"format": "link_header"})

    pages = await collect(engine, config, api_key_context(upstream))

    assert ids(pages) == ALL_IDS


async def test_link_to_other_origin_is_not_followed(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.link_style = "other_origin"
    config = paged_config(upstream, "link", {"format": "link_header"})
    context = api_key_context(upstream)
    first = await engine.request(config, context, "contacts", "list")

    with pytest.raises(InvalidCursorError, match=r"is not on the origin"):
        await engine.request(
            config, context, "contacts", "list", cursor=first.next_cursor
        )

    assert len(upstream.requests) == 1


async def test_page_format_stops_on_empty_page(
    engine: Engine, upstream: Vendor
) -> None:
    pagination = {"format": "page", "config": {"limit_param": "per_page"}}
    config = paged_config(upstream, "page", pagination, response_path="data")

    pages = await collect(engine, config, api_key_context(upstream))

    assert ids(pages) == ALL_IDS
    assert pages[-1].records == []
    assert pages[-1].stop_reason == "empty_page"


async def test_page_format_stops_on_short_page(
    engine: Engine, upstream: Vendor
) -> None:
    pagination = {"format": "page", "config": {"limit_param": "per_page", "limit": 3}}
    config = paged_config(upstream, "page", pagination, response_path="data")

    pages = await collect(engine, config, api_key_context(upstream))

    assert [len(page.records) for page in pages] == [3, 3, 1]
    assert pages[-1].stop_reason == "end"


async def test_has_next_path_ends_loop(engine: Engine, upstream: Vendor) -> None:
    pagination = {
        "format": "cursor",
        "config": {"cursor_path": "meta.next_cursor", "has_next_path": "meta.has_more"},
    }
    config = paged_config(upstream, "cursor", pagination, response_path="results")

    pages = await collect(engine, config, api_key_context(upstream))

    assert ids(pages) == ALL_IDS
    assert pages[-1].stop_reason == "end"


async def test_repeated_cursor_stops(engine: Engine, upstream: Vendor) -> None:
    pagination = {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}}
    config = paged_config(upstream, "loop", pagination, response_path="results")

    pages = await collect(engine, config, api_key_context(upstream))

    assert len(pages) == 2
    assert pages[-1].stop_reason == "repeated"
    assert pages[-1].next_cursor is None


async def test_repeated_page_stops(engine: Engine, upstream: Vendor) -> None:
    upstream.script(
        "/api/static/contacts", Reply(200, json={"items": [{"id": 1}], "next": 2})
    )
    pagination = {
        "format": "dynamic",
        "config": {
            "get_initial_pagination_values_expression": '{ "page": 1 }',
            "get_pagination_values_expression": '{ "page": body.next }',
        },
    }
    config = paged_config(upstream, "static", pagination, response_path="items")

    pages = await collect(engine, config, api_key_context(upstream))

    assert len(pages) == 2
    assert pages[-1].stop_reason == "repeated"


@pytest.mark.parametrize(
    "pagination",
    [
        pytest.param(
            {"format": "page", "config": {"limit_param": "per_page"}}, id="page"
        ),
        pytest.param(
            {"format": "offset", "config": {"limit_param": "limit", "limit": 3}},
            id="offset",
        ),
    ],
)
async def test_ignored_page_parameter_stops(
    engine: Engine, upstream: Vendor, pagination: dict[str, Any]
) -> None:
    same_page = {"data": [{"id": 1}, {"id": 2}, {"id": 3}]}
    upstream.script("/api/stuck/contacts", Reply(200, json=same_page))
    config = paged_config(upstream, "stuck", pagination, response_path="data")

    pages = await collect(engine, config, api_key_context(upstream))

    assert len(pages) == 2
    assert len(upstream.requests) == 2
    assert pages[-1].stop_reason == "repeated"
    assert pages[-1].next_cursor is None


async def test_repeated_page_detected_across_calls(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/api/stuck/contacts", Reply(200, json={"data": [{"id": 1}]}))
    pagination = {"format": "page", "config": {"limit_param": "per_page"}}
    config = paged_config(upstream, "stuck", pagination, response_path="data")
    context = api_key_context(upstream)
    first = await engine.request(config, context, "contacts", "list")

    second = await engine.request(
        config, context, "contacts", "list", cursor=first.next_cursor
    )

    assert first.stop_reason == "more"
    assert second.stop_reason == "repeated"


async def test_salesforce_demo_follows_next_records_url(
    engine: Engine, upstream: Vendor
) -> None:
    document = json.loads(SALESFORCE_DEMO.read_text(encoding="utf-8"))
    query_path = "/services/data/v60.0/query"
    next_path = f"{query_path}/01gD000000MoreRecords-2000"
    upstream.script(
        query_path,
        Reply(
            200,
            json={
                "totalSize": 3,
                "done": False,
                "nextRecordsUrl": f"/{upstream.namespace}{next_path}",
                "records": [{"Id": "001A"}, {"Id": "001B"}],
            },
        ),
    )
    upstream.script(
        next_path,
        Reply(200, json={"totalSize": 3, "done": True, "records": [{"Id": "001C"}]}),
    )
    context = {
        "instance_url": upstream.base_url,
        "oauth": {"token": {"access_token": "sf-access-token-1"}},
    }

    pages = [
        page
        async for page in engine.iterate(
            document["config"], context, "accounts", "list"
        )
    ]

    records = [record["Id"] for page in pages for record in page.records]
    assert records == ["001A", "001B", "001C"]
    assert [request.path for request in upstream.requests] == [query_path, next_path]
    assert upstream.requests[1].query == []
    assert upstream.requests[1].headers["authorization"] == "Bearer sf-access-token-1"
    assert pages[-1].stop_reason == "end"


async def test_page_cap_from_config(engine: Engine, upstream: Vendor) -> None:
    pagination = {
        "format": "page",
        "config": {"limit_param": "per_page", "max_pages": 2},
    }
    config = paged_config(upstream, "page", pagination, response_path="data")

    pages = await collect(engine, config, api_key_context(upstream))

    assert len(pages) == 2
    assert pages[-1].stop_reason == "page_cap"


async def test_page_cap_from_limits(upstream: Vendor) -> None:
    pagination = {"format": "offset", "config": {"limit_param": "limit", "limit": 1}}
    config = paged_config(upstream, "offset", pagination, response_path="data")
    async with httpx.AsyncClient() as client:
        engine = Engine(client, limits=EngineLimits(max_pages=3))

        pages = await collect(engine, config, api_key_context(upstream))

    assert ids(pages) == [1, 2, 3]
    assert pages[-1].stop_reason == "page_cap"


async def test_endless_upstream_never_loops_forever(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.contacts = [{"id": n} for n in range(1, 1000)]
    pagination = {"format": "page", "config": {"limit_param": "per_page", "limit": 1}}
    config = paged_config(upstream, "page", pagination, response_path="data")

    pages = await collect(engine, config, api_key_context(upstream))

    assert len(pages) == 20
    assert len(upstream.requests) == 20


async def test_cursor_resumes_across_calls(engine: Engine, upstream: Vendor) -> None:
    pagination = {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}}
    config = paged_config(upstream, "cursor", pagination, response_path="results")
    context = api_key_context(upstream)

    first = await engine.request(config, context, "contacts", "list")
    second = await engine.request(
        config, context, "contacts", "list", cursor=first.next_cursor
    )

    assert [r["id"] for r in second.records] == [4, 5, 6]
    assert second.page == 2
    assert upstream.requests[-1].query == [("cursor", "c3")]


async def test_cursor_is_opaque(engine: Engine, upstream: Vendor) -> None:
    pagination = {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}}
    config = paged_config(upstream, "cursor", pagination, response_path="results")

    page = await engine.request(config, api_key_context(upstream), "contacts", "list")

    assert page.next_cursor is not None
    assert "c3" not in page.next_cursor


async def test_cursor_body_location(engine: Engine, upstream: Vendor) -> None:
    upstream.script(
        "/api/search", Reply(200, json={"results": [], "meta": {}}), method="POST"
    )
    pagination = {
        "format": "cursor",
        "config": {"cursor_path": "meta.next_cursor", "cursor_location": "body"},
    }
    config = api_config(upstream)
    config["resources"]["contacts"]["search"] = {
        "method": "post",
        "path": "/search",
        "pagination": pagination,
    }
    context = api_key_context(upstream)
    encoded = forge_cursor("cursor", {"cursor": "c3"})

    await engine.request(
        config, context, "contacts", "search", body={"q": "a"}, cursor=encoded
    )

    assert upstream.hits("/api/search")[0].json() == {"q": "a", "cursor": "c3"}


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        pytest.param("not a cursor!", r"is not one this API issued", id="garbage"),
        pytest.param(
            base64.urlsafe_b64encode(b'{"v": 1}').decode(),
            r"cursor is malformed",
            id="fields",
        ),
        pytest.param(
            forge_cursor("page", {"page": 2}),
            r"belongs to 'page' pagination, but this method uses 'cursor'",
            id="other-format",
        ),
    ],
)
async def test_invalid_cursor(
    engine: Engine, upstream: Vendor, cursor: str, message: str
) -> None:
    pagination = {"format": "cursor", "config": {"cursor_path": "meta.next_cursor"}}
    config = paged_config(upstream, "cursor", pagination, response_path="results")

    with pytest.raises(InvalidCursorError, match=message):
        await engine.request(
            config, api_key_context(upstream), "contacts", "list", cursor=cursor
        )

    assert upstream.requests == []


async def test_forged_url_cursor_is_rejected(engine: Engine, upstream: Vendor) -> None:
    pagination = {"format": "link_header"}
    config = paged_config(upstream, "link", pagination)
    forged = forge_cursor("link_header", {"url": "http://127.0.0.2:9/steal"})

    with pytest.raises(InvalidCursorError, match=r"http://127\.0\.0\.2:9/steal"):
        await engine.request(
            config, api_key_context(upstream), "contacts", "list", cursor=forged
        )

    assert upstream.requests == []


async def test_cursor_on_unpaginated_method(engine: Engine, upstream: Vendor) -> None:
    with pytest.raises(InvalidCursorError, match=r"does not paginate"):
        await engine.request(
            api_config(upstream), api_key_context(upstream), "me", "get", cursor="abc"
        )


async def test_pagination_null_on_method_disables(
    engine: Engine, upstream: Vendor
) -> None:
    config = paged_config(upstream, "page", None, response_path="data")
    config["pagination"] = {"format": "page"}
    config["resources"]["contacts"]["list"]["pagination"] = None

    page = await engine.request(config, api_key_context(upstream), "contacts", "list")

    assert page.next_cursor is None
    assert upstream.requests[0].query == []


@pytest.mark.parametrize(
    ("block", "message"),
    [
        pytest.param(
            {"format": "scroll"},
            r"p\.format: unknown pagination format 'scroll'",
            id="format",
        ),
        pytest.param(
            {"format": "cursor", "config": {}},
            r"p\.config\.cursor_path: cursor pagination needs cursor_path",
            id="cursor-path",
        ),
        pytest.param(
            {
                "format": "cursor",
                "config": {"cursor_path": "a", "cursor_location": "cookie"},
            },
            r"p\.config\.cursor_location: unknown cursor_location 'cookie'",
            id="cursor-location",
        ),
        pytest.param(
            {"format": "page", "config": {"start_page": "one"}},
            r"p\.config\.start_page: expected a whole number, received 'one'",
            id="start-page",
        ),
    ],
)
def test_bad_pagination_config(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Pagination(block, path="p", max_pages=5).start(None, _request(), {})


def _request() -> PreparedRequest:
    return PreparedRequest(method="GET", url="https://vendor.test/x")


async def test_dynamic_bad_values_expression(engine: Engine, upstream: Vendor) -> None:
    pagination = {
        "format": "dynamic",
        "config": {"get_pagination_values_expression": '"not an object"'},
    }
    config = paged_config(upstream, "dynamic", pagination, response_path="items")

    with pytest.raises(
        ConfigError, match=r"get_pagination_values_expression: expected an object"
    ):
        await engine.request(config, api_key_context(upstream), "contacts", "list")


async def test_range_sends_range_header(engine: Engine, upstream: Vendor) -> None:
    config = paged_config(
        upstream, "range", {"format": "range", "config": {"limit": 3}}
    )

    await collect(engine, config, api_key_context(upstream))

    sent = [request.headers["range"] for request in upstream.requests]
    assert sent == ["items=0-2", "items=3-5", "items=6-8"]


async def test_bad_values_error_is_capped(engine: Engine, upstream: Vendor) -> None:
    pagination = {
        "format": "dynamic",
        "config": {"get_pagination_values_expression": '$pad("", 5000, "x")'},
    }
    config = paged_config(upstream, "dynamic", pagination, response_path="items")

    with pytest.raises(ConfigError) as caught:
        await collect(engine, config, api_key_context(upstream))

    assert caught.value.reason.startswith(
        "expected an object of pagination values or null, received 'xxx"
    )
    assert caught.value.reason.endswith("x…")
    assert len(caught.value.reason) < 150
