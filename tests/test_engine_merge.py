"""Override merging and per-method request settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from config_engine.errors import ConfigError
from config_engine.merge import deep_merge, effective_config, method_config

EXAMPLES = Path(__file__).parents[1] / ".." / "shared" / "truto-examples" / "configs"


def load_example(name: str) -> Any:
    document = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document["example"]


def config_with(**settings: Any) -> dict[str, Any]:
    return {
        "base_url": "http://127.0.0.1:9000/v1",
        "headers": {"Accept": "application/json", "X-Team": "{{context.team}}"},
        "query": {"limit": "50", "format": "full"},
        "query_array_format": "comma",
        "pagination": {"format": "cursor", "config": {"cursor_path": "next"}},
        "authorization": {"format": "bearer"},
        "error_expression": "status >= 400",
        "credentials": {"format": "api_key"},
        "rate_limit": {"is_rate_limited": "status = 429"},
        "resources": {
            "users": {"list": {"method": "get", "path": "/users", **settings}}
        },
    }


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        pytest.param(
            {"a": {"b": 1, "c": 2}},
            {"a": {"c": 3, "d": 4}},
            {"a": {"b": 1, "c": 3, "d": 4}},
            id="nested-objects-merge",
        ),
        pytest.param({"a": 1, "b": 2}, {"a": None}, {"b": 2}, id="null-removes-key"),
        pytest.param(
            {"a": {"b": 1}}, {"a": {"b": None}}, {"a": {}}, id="null-removes-nested"
        ),
        pytest.param({"a": 1}, {"z": None}, {"a": 1}, id="null-for-missing-key"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="list-replaces"),
        pytest.param(
            {"a": {"b": 1}}, {"a": "text"}, {"a": "text"}, id="scalar-replaces-object"
        ),
        pytest.param(
            {"a": "text"}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="object-replaces-scalar"
        ),
        pytest.param({"a": 1}, {}, {"a": 1}, id="empty-override"),
    ],
)
def test_deep_merge(base: Any, override: Any, expected: Any) -> None:
    assert deep_merge(base, override) == expected


def test_deep_merge_leaves_inputs_unchanged() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    override = {"a": {"b": None, "e": 3}, "d": None}
    base_before = copy.deepcopy(base)
    override_before = copy.deepcopy(override)

    deep_merge(base, override)

    assert base == base_before
    assert override == override_before


def test_effective_config_without_override() -> None:
    config = config_with()

    result = effective_config(config, None)

    assert result == config
    assert result is not config


def test_override_replaces_error_expression() -> None:
    config = load_example("02-acme-crm-edited.json")
    override = load_example("26-override-error-expression.json")["override"]

    result = effective_config(config, override)

    assert result["error_expression"] == "status >= 400 or $exists(data.error)"
    assert result["resources"] == config["resources"]


def test_override_replaces_pagination_config() -> None:
    config = load_example("02-acme-crm-edited.json")
    override = load_example("28-override-pagination-dynamic.json")["override"]

    result = effective_config(config, override)

    assert result["pagination"]["format"] == "dynamic"
    # A deep merge keeps the keys of the old pagination config that the
    # override does not null out.
    assert result["pagination"]["config"]["cursor_path"] == "next_cursor"
    assert "get_pagination_values_expression" in result["pagination"]["config"]


def test_override_environment_variables_visible() -> None:
    override = {"environment_variables": {"region": "eu"}}

    result = effective_config(config_with(), override)

    assert result["environment_variables"] == {"region": "eu"}


def test_override_null_removes_setting() -> None:
    result = effective_config(config_with(), {"pagination": None})

    assert "pagination" not in result


def test_override_must_be_object() -> None:
    with pytest.raises(
        ConfigError, match=r"^override: expected the override to be an object"
    ):
        effective_config(config_with(), ["pagination"])  # type: ignore[arg-type]


def test_config_must_be_object() -> None:
    with pytest.raises(ConfigError, match="expected the config to be an object"):
        effective_config("config", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "integration_value", "method_value"),
    [
        pytest.param(
            "base_url",
            "http://127.0.0.1:9000/v1",
            "http://127.0.0.1:9001",
            id="base-url",
        ),
        pytest.param(
            "pagination",
            {"format": "cursor", "config": {"cursor_path": "next"}},
            {"format": "page", "config": {"page_param": "p"}},
            id="pagination",
        ),
        pytest.param(
            "authorization",
            {"format": "bearer"},
            {"format": "basic"},
            id="authorization",
        ),
        pytest.param(
            "query_array_format", "comma", "brackets", id="query-array-format"
        ),
        pytest.param(
            "error_expression", "status >= 400", "status = 500", id="error-expression"
        ),
    ],
)
def test_method_setting_replaces(
    key: str, integration_value: Any, method_value: Any
) -> None:
    inherited = method_config(config_with(), "users", "list")
    replaced = method_config(config_with(**{key: method_value}), "users", "list")

    assert inherited[key] == integration_value
    assert replaced[key] == method_value


def test_method_pagination_null_switches_off() -> None:
    settings = method_config(config_with(pagination=None), "users", "list")

    assert settings["pagination"] is None


def test_method_headers_merge() -> None:
    settings = method_config(config_with(headers={"X-Extra": "1"}), "users", "list")

    assert settings["headers"] == {
        "Accept": "application/json",
        "X-Team": "{{context.team}}",
        "X-Extra": "1",
    }


def test_method_header_replaces_any_case() -> None:
    settings = method_config(
        config_with(headers={"accept": "text/csv"}), "users", "list"
    )

    assert settings["headers"] == {"X-Team": "{{context.team}}", "accept": "text/csv"}


def test_method_null_header_removes() -> None:
    settings = method_config(config_with(headers={"x-team": None}), "users", "list")

    assert settings["headers"] == {"Accept": "application/json"}


def test_method_query_merges() -> None:
    settings = method_config(
        config_with(query={"limit": "10", "format": None}), "users", "list"
    )

    assert settings["query"] == {"limit": "10"}


def test_method_keeps_own_keys() -> None:
    settings = method_config(config_with(response_path="data.users"), "users", "list")

    assert settings["method"] == "get"
    assert settings["path"] == "/users"
    assert settings["response_path"] == "data.users"


def test_method_config_omits_other_sections() -> None:
    settings = method_config(config_with(), "users", "list")

    assert "credentials" not in settings
    assert "rate_limit" not in settings
    assert "resources" not in settings


def test_method_without_headers_or_query() -> None:
    config = {
        "base_url": "http://127.0.0.1:9000",
        "resources": {"a": {"list": {"path": "/a"}}},
    }

    settings = method_config(config, "a", "list")

    assert settings == {"path": "/a", "base_url": "http://127.0.0.1:9000"}


def test_effective_config_then_method() -> None:
    config = load_example("02-acme-crm-edited.json")
    override = {
        "environment_variables": {"region": "eu"},
        "resources": {"deals": {"list": {"response_path": "items"}}},
    }

    settings = method_config(effective_config(config, override), "deals", "list")

    assert settings["response_path"] == "items"
    assert settings["path"] == "/deals"
    assert settings["base_url"] == "https://api.acme.com/v1"
    assert settings["pagination"]["format"] == "cursor"


@pytest.mark.parametrize(
    ("resource", "method", "message", "path"),
    [
        pytest.param(
            "teams",
            "list",
            "resource 'teams' is not configured",
            "resources.teams",
            id="resource",
        ),
        pytest.param(
            "users",
            "delete",
            "method 'delete' is not configured",
            "resources.users.delete",
            id="method",
        ),
    ],
)
def test_unknown_method_raises(
    resource: str, method: str, message: str, path: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        method_config(config_with(), resource, method)

    assert caught.value.path == path


def test_unknown_method_lists_configured() -> None:
    with pytest.raises(ConfigError, match="configured methods: list"):
        method_config(config_with(), "users", "get")


def test_missing_resources_raises() -> None:
    with pytest.raises(ConfigError, match="expected an object of resources") as caught:
        method_config({"base_url": "x"}, "users", "list")

    assert caught.value.path == "resources"


def test_headers_must_be_object() -> None:
    with pytest.raises(ConfigError, match="expected an object of headers") as caught:
        method_config(config_with(headers=["Accept"]), "users", "list")

    assert caught.value.path == "resources.users.list.headers"
