"""Request building and sending: query formats, bodies, URLs, redirects, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from config_engine.config import validate_config
from config_engine.engine import Engine, EngineLimits
from config_engine.errors import (
    ConfigError,
    PlaceholderError,
    SandboxWriteError,
    UpstreamUnavailableError,
)
from config_engine.http import check_base_url, check_path, encode_body, encode_query
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
        yield Engine(
            client, sleep=RecordingSleep(), limits=EngineLimits(request_timeout=2.0)
        )


async def echo(
    engine: Engine, vendor: Vendor, method_config: dict[str, Any], **kwargs: Any
) -> Any:
    config = echo_config(vendor, method_config, **kwargs.pop("config", {}))
    page = await engine.request(
        config, kwargs.pop("context", {}), "echo", "call", **kwargs
    )
    return page.result


# -- query strings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("array_format", "expected"),
    [
        pytest.param("comma", [("ids", "1,2,3")], id="comma"),
        pytest.param(
            "brackets", [("ids[]", "1"), ("ids[]", "2"), ("ids[]", "3")], id="brackets"
        ),
        pytest.param(
            "indices", [("ids[0]", "1"), ("ids[1]", "2"), ("ids[2]", "3")], id="indices"
        ),
        pytest.param("repeat", [("ids", "1"), ("ids", "2"), ("ids", "3")], id="repeat"),
    ],
)
def test_query_array_format(array_format: str, expected: list[tuple[str, str]]) -> None:
    assert encode_query({"ids": [1, 2, 3]}, array_format) == expected


def test_query_nested_objects_use_brackets() -> None:
    pairs = encode_query({"filter": {"status": "open", "tags": ["a", "b"]}}, "indices")

    assert pairs == [
        ("filter[status]", "open"),
        ("filter[tags][0]", "a"),
        ("filter[tags][1]", "b"),
    ]


def test_query_drops_none_and_spells_booleans() -> None:
    pairs = encode_query({"a": None, "b": True, "c": False, "d": 0}, "repeat")

    assert pairs == [("b", "true"), ("c", "false"), ("d", "0")]


def test_query_unknown_array_format_is_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"x\.query_array_format: unknown query_array_format 'pipes'"
    ):
        encode_query({"ids": [1]}, "pipes", path="x.query_array_format")


@pytest.mark.parametrize("array_format", ["comma", "brackets", "indices", "repeat"])
async def test_query_array_format_reaches_upstream(
    engine: Engine, upstream: Vendor, array_format: str
) -> None:
    result = await echo(
        engine,
        upstream,
        {"query_array_format": array_format},
        query={"ids": ["x", "y"]},
    )

    expected = [list(pair) for pair in encode_query({"ids": ["x", "y"]}, array_format)]
    assert result["query"] == expected


# -- bodies --------------------------------------------------------------------


def test_body_json_is_default() -> None:
    assert encode_body({"a": 1}, None) == b'{"a":1}'


def test_body_form_encodes_nested_values() -> None:
    assert encode_body({"a": 1, "b": {"c": "d e"}}, "form") == b"a=1&b%5Bc%5D=d+e"


def test_body_raw_rejects_objects() -> None:
    with pytest.raises(
        ConfigError, match=r"p: a raw body must be a string, received dict"
    ):
        encode_body({"a": 1}, "raw", path="p")


def test_body_unknown_format_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown body_format 'xml'"):
        encode_body({"a": 1}, "xml")


@pytest.mark.parametrize(
    ("body_format", "body", "content_type", "sent"),
    [
        pytest.param(
            "json", {"name": "Ada"}, "application/json", '{"name":"Ada"}', id="json"
        ),
        pytest.param(
            "form",
            {"name": "Ada"},
            "application/x-www-form-urlencoded",
            "name=Ada",
            id="form",
        ),
        pytest.param("raw", "<xml/>", None, "<xml/>", id="raw"),
    ],
)
async def test_body_format_reaches_upstream(
    engine: Engine,
    upstream: Vendor,
    body_format: str,
    body: Any,
    content_type: str | None,
    sent: str,
) -> None:
    result = await echo(
        engine, upstream, {"method": "post", "body_format": body_format}, body=body
    )

    assert result["body"] == sent
    assert result["headers"].get("content-type") == content_type


async def test_body_template_renders_from_caller_body(
    engine: Engine, upstream: Vendor
) -> None:
    method = {
        "method": "post",
        "body": {
            "primary_id": "{{body.primary_id:any}}",
            "ids": "{{body.duplicate_ids:any}}",
            "note": "{{body.note}}",
            "as_text": "{{body.primary_id}}",
        },
    }

    result = await echo(
        engine, upstream, method, body={"primary_id": 7, "duplicate_ids": [8, 9]}
    )

    assert orjson.loads(result["body"]) == {
        "primary_id": 7,
        "ids": [8, 9],
        "as_text": "7",
    }


async def test_unresolved_optional_values_are_dropped(
    engine: Engine, upstream: Vendor
) -> None:
    method = {
        "method": "post",
        "headers": {"X-Org": "{{org_id}}", "X-Fixed": "yes"},
        "query": {"search": "{{query.term}}", "limit": "10"},
        "body": {"name": "{{body.name}}", "tags": ["{{body.tag}}", "fixed"]},
    }

    result = await echo(engine, upstream, method, body={"name": ""})

    assert "x-org" not in result["headers"]
    assert result["headers"]["x-fixed"] == "yes"
    assert result["query"] == [["limit", "10"]]
    assert orjson.loads(result["body"]) == {"tags": ["fixed"]}
    assert "{{" not in str(result)


async def test_get_request_sends_no_body(engine: Engine, upstream: Vendor) -> None:
    result = await echo(engine, upstream, {"method": "get"}, body={"ignored": True})

    assert result["body"] == ""


# -- headers and placeholders --------------------------------------------------


async def test_headers_merge_and_render_placeholders(
    engine: Engine, upstream: Vendor
) -> None:
    config = {"headers": {"X-Org-Id": "{{org_id}}", "X-Static": "one"}}
    method = {
        "headers": {"X-Static": "two", "X-Env": "{{environment_variables.region}}"}
    }
    config["environment_variables"] = {"region": "eu"}

    result = await echo(
        engine, upstream, method, config=config, context={"org_id": "org-9"}
    )

    headers = result["headers"]
    assert headers["x-org-id"] == "org-9"
    assert headers["x-static"] == "two"
    assert headers["x-env"] == "eu"


async def test_null_method_header_removes_integration_header(
    engine: Engine, upstream: Vendor
) -> None:
    config = {"headers": {"X-Remove-Me": "yes"}}

    result = await echo(
        engine, upstream, {"headers": {"X-Remove-Me": None}}, config=config
    )

    assert "x-remove-me" not in result["headers"]


async def test_config_query_wins_over_caller_query(
    engine: Engine, upstream: Vendor
) -> None:
    method = {"query": {"fixed": "config", "search": "{{query.term}}"}}

    result = await echo(
        engine, upstream, method, query={"fixed": "caller", "term": "ada"}
    )

    assert ["fixed", "config"] in result["query"]
    assert ["search", "ada"] in result["query"]
    assert ["fixed", "caller"] not in result["query"]


async def test_id_is_percent_encoded_in_path(engine: Engine, upstream: Vendor) -> None:
    config = echo_config(upstream, {})
    config["resources"]["echo"]["get"] = {"path": "/echo/{{id}}"}

    request = engine.prepare_request(config, {}, "echo", "get", id="a/../b c")

    assert request.url == upstream.url("/echo/a%2F..%2Fb%20c")


async def test_missing_path_placeholder_names_path(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(upstream, {"path": "/orgs/{{org_id}}/echo"})

    with pytest.raises(
        PlaceholderError, match=r"resources\.echo\.call\.path"
    ) as caught:
        engine.prepare_request(config, {}, "echo", "call")

    assert caught.value.placeholder == "org_id"


async def test_missing_base_url_placeholder_names_path(engine: Engine) -> None:
    config = {
        "base_url": "https://{{subdomain}}.vendor.test",
        "resources": {"x": {"list": {"path": "/x"}}},
    }

    with pytest.raises(PlaceholderError, match=r"resources\.x\.list\.base_url"):
        engine.prepare_request(config, {}, "x", "list")


async def test_missing_base_url_is_config_error(engine: Engine) -> None:
    config = {"resources": {"x": {"list": {"path": "/x"}}}}

    with pytest.raises(
        ConfigError, match=r"resources\.x\.list\.base_url: base_url is missing"
    ):
        engine.prepare_request(config, {}, "x", "list")


@pytest.mark.parametrize(
    "subdomain",
    [
        pytest.param("evil.test/#", id="fragment"),
        pytest.param("user@evil.test", id="userinfo"),
        pytest.param("evil.test/path?", id="path"),
        pytest.param("a b", id="space"),
    ],
)
def test_base_url_rejects_injected_host(subdomain: str) -> None:
    template = "https://{{subdomain}}.vendor.test/api"

    with pytest.raises(ConfigError, match=r"is invalid: its host"):
        check_base_url(
            f"https://{subdomain}.vendor.test/api", path="base_url", template=template
        )


async def test_injected_subdomain_never_reaches_network(engine: Engine) -> None:
    config = {
        "base_url": "https://{{subdomain}}.vendor.test",
        "resources": {"x": {"list": {"path": "/x"}}},
    }

    with pytest.raises(ConfigError, match=r"resources\.x\.list\.base_url: base URL"):
        await engine.request(config, {"subdomain": "127.0.0.1:9/#"}, "x", "list")


def test_base_url_accepts_dotted_subdomain() -> None:
    template = "https://{{subdomain}}.vendor.test/api"

    assert check_base_url("https://a.b.vendor.test/api", template=template)


def test_base_url_rejects_other_schemes() -> None:
    with pytest.raises(
        ConfigError, match=r"expected an absolute http:// or https:// URL"
    ):
        check_base_url("file:///etc/passwd")


def test_base_url_accepts_host_port_and_ipv6() -> None:
    assert check_base_url("http://127.0.0.1:8080/v1")
    assert check_base_url("http://[::1]:8080")


@pytest.mark.parametrize(
    ("rendered", "template"),
    [
        pytest.param("/a/../admin", "/a/{{x}}", id="dot-dot"),
        pytest.param("/./a", "/{{x}}/a", id="dot"),
        pytest.param("https://evil.test/x", "{{next}}", id="absolute-from-placeholder"),
    ],
)
def test_path_rejects_escapes(rendered: str, template: str) -> None:
    with pytest.raises(ConfigError, match=r"path 'http|path '/"):
        check_path(rendered, template)


def test_path_accepts_literal_absolute_url() -> None:
    assert check_path("https://other.test/x", "https://other.test/x")


# -- sandbox -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
async def test_sandbox_rejects_writes(
    engine: Engine, upstream: Vendor, method: str
) -> None:
    config = echo_config(upstream, {"method": method})

    with pytest.raises(
        SandboxWriteError, match=rf"{method.upper()} is rejected on a sandbox"
    ):
        await engine.request(config, {}, "echo", "call", sandbox=True)

    assert upstream.hits("/echo") == []


async def test_sandbox_allows_reads(engine: Engine, upstream: Vendor) -> None:
    config = echo_config(upstream, {"method": "get"})

    page = await engine.request(config, {}, "echo", "call", sandbox=True)

    assert page.status == 200


async def test_sandbox_allows_lifecycle_writes(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(upstream, {"method": "post"})

    page = await engine.request(
        config, {}, "echo", "call", sandbox=True, lifecycle=True
    )

    assert page.result["method"] == "POST"


# -- sending -------------------------------------------------------------------


async def test_timeout_is_upstream_unavailable(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/slow", Reply(200, json={}, delay=1.0))
    config = echo_config(upstream, {"path": "/slow", "method": "post"})
    fast = Engine(engine.client, limits=EngineLimits(request_timeout=0.2))

    with pytest.raises(
        UpstreamUnavailableError, match=r"POST /\w+/slow timed out after 0\.2 s"
    ):
        await fast.request(config, {}, "echo", "call")


async def test_oversized_answer_is_dropped(engine: Engine, upstream: Vendor) -> None:
    upstream.script("/big", Reply(200, text="x" * 5000))
    config = echo_config(upstream, {"path": "/big"})
    small = Engine(engine.client, limits=EngineLimits(max_response_bytes=1000))

    with pytest.raises(UpstreamUnavailableError, match=r"more than 1000 bytes"):
        await small.request(config, {}, "echo", "call")


async def test_connection_refused_is_upstream_unavailable(engine: Engine) -> None:
    config = {
        "base_url": "http://127.0.0.1:9",
        "resources": {"x": {"create": {"method": "post", "path": "/x"}}},
    }

    with pytest.raises(UpstreamUnavailableError, match=r"POST /x failed: ConnectError"):
        await engine.request(config, {}, "x", "create")

    assert isinstance(engine.sleep, RecordingSleep)
    assert len(engine.sleep.calls) == 3


async def test_text_answer_is_kept_as_text(engine: Engine, upstream: Vendor) -> None:
    upstream.script("/text", Reply(200, text="plain words"))
    config = echo_config(upstream, {"path": "/text"})

    page = await engine.request(config, {}, "echo", "call")

    assert page.result == "plain words"


async def test_redirect_same_origin_keeps_credentials(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/moved", Reply(302, headers={"Location": upstream.url("/echo")}))
    config = api_config(upstream, base_url=upstream.base_url)
    config["resources"]["moved"] = {"get": {"path": "/moved"}}

    page = await engine.request(config, api_key_context(upstream), "moved", "get")

    assert page.result["headers"]["x-api-key"] == API_KEY


async def test_redirect_other_origin_drops_credentials(
    engine: Engine, upstream: Vendor
) -> None:
    other = upstream.other_origin + "/echo"
    upstream.script("/away", Reply(307, headers={"Location": other}))
    config = api_config(
        upstream, base_url=upstream.base_url, headers={"X-Org": "{{api_key}}"}
    )
    config["resources"]["away"] = {"get": {"path": "/away"}}

    page = await engine.request(config, api_key_context(upstream), "away", "get")

    headers = page.result["headers"]
    assert "x-api-key" not in headers
    assert "x-org" not in headers
    assert page.request.headers["X-Api-Key"] == API_KEY


async def test_redirect_loop_is_upstream_unavailable(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/loop", Reply(302, headers={"Location": upstream.url("/loop")}))
    config = echo_config(upstream, {"path": "/loop"})

    with pytest.raises(UpstreamUnavailableError, match=r"redirected more than 5 times"):
        await engine.request(config, {}, "echo", "call")


async def test_describe_masks_authorization(engine: Engine, upstream: Vendor) -> None:
    config = api_config(upstream)

    request = engine.prepare_request(config, api_key_context(upstream), "me", "get")

    described = request.describe()
    assert described["headers"]["X-Api-Key"] == "[redacted]"
    assert API_KEY not in orjson.dumps(described).decode()
    assert described["url"] == upstream.url("/api/me")


async def test_upstream_url_credentials_stay_out_of_logs(
    engine: Engine, upstream: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    config = echo_config(upstream, {"query": {"api_key": "{{api_key}}"}})
    caplog.set_level("INFO")

    page = await engine.request(config, {"api_key": API_KEY}, "echo", "call")

    assert page.result["query"] == [["api_key", API_KEY]]
    assert API_KEY not in caplog.text
    assert "upstream_request method=GET" in caplog.text


async def test_describe_masks_credentials_everywhere(
    engine: Engine, upstream: Vendor
) -> None:
    method = {
        "method": "post",
        "path": "/echo/{{account_token}}",
        "query": {"key": "{{api_key}}", "page": "1"},
        "headers": {"X-Trace": "trace {{api_key}}"},
        "body": {
            "user": "ada",
            "password": "{{password}}",
            "nested": {"pin": "{{pin}}"},
        },
    }
    context = {
        "api_key": API_KEY,
        "password": "hunter2-long",
        "pin": "8426",
        "account_token": "path-secret-55",
    }
    config = echo_config(upstream, method)

    described = engine.prepare_request(config, context, "echo", "call").describe()

    text = orjson.dumps(described).decode()
    for name in ("api_key", "password", "account_token"):
        assert context[name] not in text
    assert described["url"] == upstream.url(
        "/echo/[redacted]?key=%5Bredacted%5D&page=1"
    )
    assert described["headers"]["X-Trace"] == "trace [redacted]"
    assert orjson.loads(described["body"]) == {
        "user": "ada",
        "password": "[redacted]",
        "nested": {"pin": "8426"},
    }


async def test_path_on_other_origin_is_rejected(
    engine: Engine, upstream: Vendor
) -> None:
    config = api_config(upstream, base_url="{{instance_url}}/api")
    config["resources"]["me"]["get"]["path"] = "http://127.0.0.2:9/steal"
    context = {**api_key_context(upstream), "instance_url": upstream.base_url}

    with pytest.raises(
        ConfigError,
        match=r"^resources\.me\.get\.path: path 'http://127\.0\.0\.2:9/steal' is on "
        r"another origin than the base URL",
    ):
        await engine.request(config, context, "me", "get")

    assert upstream.requests == []


async def test_path_on_same_origin_is_sent(engine: Engine, upstream: Vendor) -> None:
    config = api_config(upstream)
    config["resources"]["me"]["get"]["path"] = upstream.url("/api/me")

    page = await engine.request(config, api_key_context(upstream), "me", "get")

    assert page.result == {"id": "user_1", "email": "owner@vendor.test"}


def test_validation_rejects_path_on_other_origin() -> None:
    config = {
        "base_url": "http://127.0.0.1:9000/api",
        "resources": {"users": {"list": {"path": "http://127.0.0.2:9000/users"}}},
    }

    problems = validate_config(config)

    assert [problem.path for problem in problems] == ["resources.users.list.path"]
    assert "is on another origin than the base URL" in problems[0].message


async def test_method_timeout_lowers_engine_timeout(
    engine: Engine, upstream: Vendor
) -> None:
    upstream.script("/slow", Reply(200, json={}, delay=1.5))
    config = echo_config(upstream, {"path": "/slow", "method": "post", "timeout": 0.2})

    with pytest.raises(UpstreamUnavailableError, match=r"timed out after 0\.2 s"):
        await engine.request(config, {}, "echo", "call")


async def test_error_shows_at_most_80_characters_of_value(
    engine: Engine, upstream: Vendor
) -> None:
    long_host = "ftp://" + "h" * 5000
    config = echo_config(upstream, {"base_url": "{{host}}"})

    with pytest.raises(ConfigError) as caught:
        engine.prepare_request(config, {"host": long_host}, "echo", "call")

    message = caught.value.reason
    assert message.startswith("base URL 'ftp://hhhh")
    assert "hhh… is invalid" in message
    assert len(message) < 200
