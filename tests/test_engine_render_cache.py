"""Compiled templates and the engine's per-config cache of request parts.

Templates compile once and render per call, and the engine keeps each
config's compiled request parts. These tests check that nothing of one
render reaches another: a context's values stay in its own request, a new
config object is compiled afresh, and the cache stays bounded.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine, EngineLimits, _authorization_block
from config_engine.errors import ConfigError, PlaceholderError
from config_engine.http import request_variables
from config_engine.method_cache import MethodCache
from config_engine.placeholders import CompiledTemplate
from config_engine.request_template import RequestTemplate, build_request
from tests.upstream.helpers import RecordingSleep, echo_config
from tests.upstream.vendor import Vendor

pytest_plugins = ["tests.upstream.plugin"]

BASE_URL = "http://127.0.0.1:9/api"

METHOD: dict[str, Any] = {
    "method": "get",
    "path": "/orgs/{{org_id}}/contacts",
    "headers": {
        "Accept": "application/json",
        "X-Org": "{{org_id}}",
        "X-Account": "{{context.account_id}}",
        "X-Locale": "{{locale|language?:en}}",
        "X-Optional": "{{trace_id}}",
    },
    "query": {"owner": "{{query.owner}}", "fields": "{{query.fields:any}}"},
    "query_array_format": "comma",
}


def list_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": BASE_URL,
        "authorization": {
            "format": "header",
            "config": {"header_name": "X-Api-Key", "header_value": "{{api_key}}"},
        },
        "resources": {"contacts": {"list": copy.deepcopy(METHOD)}},
    }
    config.update(changes)
    return config


FIRST: dict[str, Any] = {
    "org_id": "org-1",
    "account_id": "acc-1",
    "language": "de",
    "trace_id": "trace-1",
    "api_key": "key-first-123456",
}
SECOND: dict[str, Any] = {
    "org_id": "org-2",
    "account_id": "acc-2",
    "api_key": "key-second-654321",
}


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with httpx.AsyncClient() as client:
        yield Engine(client, sleep=RecordingSleep())


# -- compiled templates --------------------------------------------------------


def test_compiled_template_keeps_contexts_apart() -> None:
    compiled = CompiledTemplate({"org": "{{org_id}}", "trace": "t={{trace_id}}"})

    first = compiled.render(FIRST)
    second = compiled.render(SECOND)

    assert first == {"org": "org-1", "trace": "t=trace-1"}
    assert second == {"org": "org-2", "trace": "t={{trace_id}}"}


def test_compiled_template_returns_fresh_containers() -> None:
    compiled = CompiledTemplate({"static": {"a": [1, 2]}, "org": "{{org_id}}"})

    first = compiled.render(FIRST)
    first["static"]["a"].append(3)
    second = compiled.render(FIRST)

    assert second["static"] == {"a": [1, 2]}


def test_compiled_template_reads_template_once() -> None:
    template = {"org": "{{org_id}}"}
    compiled = CompiledTemplate(template)

    template["org"] = "{{account_id}}"

    assert compiled.render(FIRST) == {"org": "org-1"}


def test_compiled_required_error_names_path() -> None:
    compiled = CompiledTemplate({"nested": {"key": "{{api_key}}"}})

    assert compiled.render(FIRST, required=True) == {
        "nested": {"key": "key-first-123456"}
    }
    with pytest.raises(PlaceholderError, match=r"^headers\.nested\.key: "):
        compiled.render({}, required=True, path="headers")


# -- request templates ---------------------------------------------------------


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(FIRST, id="every-value-present"),
        pytest.param(SECOND, id="optional-header-missing"),
        pytest.param({**FIRST, "id": "a/b"}, id="id-in-variables"),
    ],
)
def test_request_template_matches_build_request(context: dict[str, Any]) -> None:
    variables = request_variables(context, query={"owner": "u1", "fields": ["a"]})
    path = "resources.contacts.list"
    settings = {**METHOD, "base_url": BASE_URL}

    built = RequestTemplate(settings, path=path).build(variables, query={"x": "1"})

    assert built == build_request(settings, variables, query={"x": "1"}, path=path)


def test_request_template_drops_missing_header() -> None:
    variables = request_variables(SECOND, query={"owner": "u2"})
    settings = {**METHOD, "base_url": BASE_URL}

    request = RequestTemplate(settings).build(variables)

    assert "X-Optional" not in request.headers
    assert request.headers["X-Account"] == "acc-2"
    assert request.query == (("owner", "u2"),)


def test_request_template_raises_config_errors_on_build() -> None:
    settings = {**METHOD, "path": 5, "base_url": BASE_URL}

    template = RequestTemplate(settings, path="resources.contacts.list")

    with pytest.raises(ConfigError, match=r"^resources\.contacts\.list\.path: "):
        template.build(request_variables(FIRST))


# -- the engine's per-config cache ---------------------------------------------


def test_engine_keeps_contexts_apart(engine: Engine) -> None:
    config = list_config()

    first = engine.prepare_request(config, FIRST, "contacts", "list")
    second = engine.prepare_request(config, SECOND, "contacts", "list")

    assert first.url == f"{BASE_URL}/orgs/org-1/contacts"
    assert second.url == f"{BASE_URL}/orgs/org-2/contacts"
    assert first.headers["X-Api-Key"] == "key-first-123456"
    assert second.headers["X-Api-Key"] == "key-second-654321"
    assert first.headers["X-Locale"] == "de"
    assert second.headers["X-Locale"] == "en"
    assert "X-Optional" not in second.headers


def test_engine_raises_for_missing_value_after_cache(engine: Engine) -> None:
    config = list_config()
    engine.prepare_request(config, FIRST, "contacts", "list")

    with pytest.raises(PlaceholderError, match=r"resources\.contacts\.list\.path"):
        engine.prepare_request(config, {"api_key": "key-x-0000"}, "contacts", "list")


def test_engine_compiles_each_new_config(engine: Engine) -> None:
    # Each config is dropped right after use, so CPython may give the next
    # one the same id. The cache must still serve each config its own URL.
    for number in range(5):
        config = list_config(base_url=f"http://127.0.0.1:{9000 + number}/api")

        request = engine.prepare_request(config, FIRST, "contacts", "list")

        assert (
            request.url == f"http://127.0.0.1:{9000 + number}/api/orgs/org-1/contacts"
        )
        del config
        gc.collect()


def test_engine_sees_each_override_copy(engine: Engine) -> None:
    base = list_config()
    changed = copy.deepcopy(base)
    changed["resources"]["contacts"]["list"]["headers"]["X-Org"] = "fixed"

    before = engine.prepare_request(base, FIRST, "contacts", "list")
    after = engine.prepare_request(changed, FIRST, "contacts", "list")

    assert before.headers["X-Org"] == "org-1"
    assert after.headers["X-Org"] == "fixed"


def test_engine_describe_masks_context_secret(engine: Engine) -> None:
    method = {**METHOD, "headers": {"X-Echo": "v={{client_secret}}"}}
    config = list_config(resources={"contacts": {"list": method}})
    context = {**FIRST, "client_secret": "shh-very-secret"}

    described = engine.prepare_request(config, context, "contacts", "list").describe()

    assert described["headers"]["X-Echo"] == "v=[redacted]"
    assert "key-first-123456" not in str(described)


async def test_engine_sends_each_account_own_values(
    engine: Engine, upstream: Vendor
) -> None:
    config = echo_config(upstream, {"headers": {"X-Org": "{{org_id}}"}})

    first = await engine.request(config, FIRST, "echo", "call")
    second = await engine.request(config, SECOND, "echo", "call")

    assert first.result["headers"]["x-org"] == "org-1"
    assert second.result["headers"]["x-org"] == "org-2"


# -- MethodCache -----------------------------------------------------------------


def compile_method(cache: MethodCache, config: dict[str, Any], token: object) -> Any:
    return cache.get(
        config,
        "contacts",
        "list",
        authentication_method=None,
        limits_token=token,
        authorization_for=_authorization_block,
    )


def test_method_cache_reuses_entry_for_same_config() -> None:
    cache = MethodCache()
    config = list_config()
    limits = EngineLimits()

    first = compile_method(cache, config, limits)
    second = compile_method(cache, config, limits)

    assert first is second
    assert len(cache) == 1


def test_method_cache_compiles_on_second_use() -> None:
    cache = MethodCache()
    config = list_config()
    limits = EngineLimits()
    variables = request_variables(FIRST, query={"owner": "u1"})

    first = compile_method(cache, config, limits)
    direct = first.template.build(variables)
    compiled_before = first.is_compiled
    second = compile_method(cache, config, limits)

    assert compiled_before is False
    assert second.is_compiled is True
    assert second.template.build(variables) == direct


def test_method_cache_recompiles_for_new_limits() -> None:
    cache = MethodCache()
    config = list_config(
        resources={
            "contacts": {
                "list": {
                    **METHOD,
                    "pagination": {"format": "page", "config": {}},
                }
            }
        }
    )

    small = compile_method(cache, config, EngineLimits(max_pages=2))
    large = compile_method(cache, config, EngineLimits(max_pages=50))

    assert small.pagination_for(max_pages=2, expression_timeout=None).max_pages == 2
    assert large.pagination_for(max_pages=50, expression_timeout=None).max_pages == 50


def test_method_cache_drops_oldest_when_full() -> None:
    cache = MethodCache(max_entries=2)
    limits = EngineLimits()
    configs = [list_config() for _ in range(3)]

    compiled = [compile_method(cache, config, limits) for config in configs]

    assert len(cache) == 2
    assert compile_method(cache, configs[2], limits) is compiled[2]
    assert compile_method(cache, configs[0], limits) is not compiled[0]


def test_method_cache_settings_are_read_only() -> None:
    compiled = compile_method(MethodCache(), list_config(), EngineLimits())

    with pytest.raises(TypeError):
        compiled.settings["path"] = "/other"  # type: ignore[index]


def test_method_cache_rejects_zero_entries() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1"):
        MethodCache(max_entries=0)


def test_method_cache_raises_for_unknown_method() -> None:
    with pytest.raises(ConfigError, match=r"^resources\.contacts\.delete: "):
        MethodCache().get(
            list_config(),
            "contacts",
            "delete",
            authentication_method=None,
            limits_token=EngineLimits(),
            authorization_for=_authorization_block,
        )
