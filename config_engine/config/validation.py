"""Validate configs and overrides, and report problems by JSON path.

Validation has three parts: the pydantic models check types, formats and
required settings, every JSONata expression is compiled on the way, and every
other string of the config is parsed for placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config_engine.config.base import MISSING_SETTING, TAG_MARKER
from config_engine.config.integration import IntegrationConfig, IntegrationOverride
from config_engine.config.unknown_keys import unknown_keys
from config_engine.errors import ConfigError
from config_engine.placeholders import check_template

# Keys whose string values are JSONata expressions, not placeholder templates.
JSONATA_KEYS: Final = frozenset(
    {
        "error_expression",
        "is_rate_limited",
        "retry_after_header_expression",
        "rate_limit_header_expression",
        "get_initial_pagination_values_expression",
        "get_pagination_values_expression",
        "get_cursor_from_response_expression",
        "expression",
        "handle_verification",
        "payload_transform",
        "run_if",
    }
)
# Levels of objects and lists that a config may nest. Real configs use about
# ten; the bound keeps recursive validation far from Python's recursion limit.
MAX_DEPTH: Final = 64
_SHOWN_LENGTH: Final = 80
ERROR: Final = "error"
WARNING: Final = "warning"
_QUOTED: Final = re.compile(r"'([^']*)'")
_JSON_TYPES: Final = {
    "string_type": "a string",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
}


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a config.

    `path` is the dotted JSON path of the value, such as
    ``resources.users.list.pagination.config.cursor_path``, with list indices
    as numbers and "" for the document itself. `message` states what was
    expected and what was received. `severity` is ``error`` for a config
    that must not be saved, or ``warning`` for one that works but probably
    not as meant, such as one with a misspelled key.
    """

    path: str
    message: str
    severity: str = ERROR


def validate_config(config: Any, *, warnings: bool = False) -> list[ConfigProblem]:
    """Return every problem of an integration config; empty when it is valid.

    With `warnings`, keys that the engine does not interpret are reported too,
    as problems of severity ``warning``, once the config has no error.
    """
    model, problems = _validate(config, partial=False)
    if warnings and model is not None and not problems:
        problems = _unknown_key_warnings(model)
    return problems


def validate_override(override: Any, *, warnings: bool = False) -> list[ConfigProblem]:
    """Return every problem of an environment integration's override.

    An override is a partial config plus ``environment_variables``. Null
    values remove keys when it is merged, so they are not checked.
    `warnings` adds unknown keys, as `validate_config` does.
    """
    model, problems = _validate(override, partial=True)
    if warnings and model is not None and not problems:
        problems = _unknown_key_warnings(model)
    return problems


def _unknown_key_warnings(model: IntegrationConfig) -> list[ConfigProblem]:
    return [
        ConfigProblem(path, message, WARNING) for path, message in unknown_keys(model)
    ]


def parse_config(config: Any) -> IntegrationConfig:
    """Return `config` as an IntegrationConfig.

    Raises ConfigError with the path and message of the first problem.
    """
    model, problems = _validate(config, partial=False)
    if problems:
        raise ConfigError(problems[0].message, problems[0].path)
    assert model is not None
    return model


def _validate(
    document: Any, *, partial: bool
) -> tuple[IntegrationConfig | None, list[ConfigProblem]]:
    if not isinstance(document, dict):
        kind = "an override" if partial else "a config"
        message = f"expected {kind} object, received {_shown(document)}"
        return None, [ConfigProblem("", message)]
    if exceeds_depth(document, MAX_DEPTH):
        message = (
            f"the document is nested deeper than {MAX_DEPTH} levels of objects "
            "and lists; flatten it"
        )
        return None, [ConfigProblem("", message)]
    if partial:
        document = _without_nulls(document)
    model_class = IntegrationOverride if partial else IntegrationConfig
    model = None
    problems: list[ConfigProblem] = []
    try:
        model = model_class.model_validate(document, context={"partial": partial})
    except ValidationError as error:
        problems.extend(_problem(detail) for detail in error.errors())
    problems.extend(_placeholder_problems(document, ""))
    if not partial:
        problems.extend(_origin_problems(document))
    problems.sort(key=lambda problem: problem.path)
    return model, problems


def exceeds_depth(value: Any, max_depth: int) -> bool:
    """Return whether `value` nests objects and lists deeper than `max_depth`.

    The walk uses its own stack, so any depth is measured without recursion.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, dict | list):
            continue
        if depth > max_depth:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children)
    return False


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_nulls(item) for key, item in value.items() if item is not None
        }
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _problem(detail: ErrorDetails) -> ConfigProblem:
    # A dict key's own error ends in "[key]"; the key before it is the path.
    keys = [
        str(part) for part in detail["loc"] if not _is_tag(part) and part != "[key]"
    ]
    kind, context = detail["type"], detail.get("ctx") or {}
    received = _shown(detail.get("input"))
    if kind == MISSING_SETTING:
        keys.append(str(context["key"]))
        message = detail["msg"]
    elif kind == "union_tag_invalid":
        key, _, value = str(context["tag"]).removeprefix(TAG_MARKER).partition("=")
        keys.append(key)
        message = f"unknown {key} {value!r}; expected one of {_expected_tags(context)}"
    elif kind == "union_tag_not_found":
        message = f"expected an object, received {received}"
    elif kind in _JSON_TYPES:
        message = f"expected {_JSON_TYPES[kind]}, received {received}"
    elif kind == "literal_error":
        message = f"expected one of {context['expected']}, received {received}"
    elif kind == "greater_than_equal":
        message = f"expected a number of at least {context['ge']}, received {received}"
    elif kind == "greater_than":
        message = (
            f"expected a number greater than {context['gt']:g}, received {received}"
        )
    elif kind == "less_than_equal":
        message = f"expected a number of at most {context['le']:g}, received {received}"
    else:
        message = detail["msg"]
    return ConfigProblem(".".join(keys), message)


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and part.startswith(TAG_MARKER)


def _expected_tags(context: Mapping[str, Any]) -> str:
    tags = _QUOTED.findall(str(context.get("expected_tags", "")))
    values = [tag.partition("=")[2] for tag in tags]
    return ", ".join(repr(value) for value in values if value)


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > _SHOWN_LENGTH:
        return f"{text[: _SHOWN_LENGTH - 3]}..."
    return text


def _placeholder_problems(value: Any, path: str) -> Iterator[ConfigProblem]:
    for key, item, item_path in _children(value, path):
        if isinstance(item, str):
            if key in JSONATA_KEYS or _is_transform_config(value, key):
                continue
            for message in check_template(item):
                yield ConfigProblem(item_path, message)
        else:
            yield from _placeholder_problems(item, item_path)


def _children(value: Any, path: str) -> Iterator[tuple[Any, Any, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item, f"{path}.{key}" if path else str(key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield index, item, f"{path}.{index}" if path else str(index)


def _is_transform_config(parent: Any, key: Any) -> bool:
    # A transform step may hold its JSONata expression directly in `config`.
    return (
        key == "config"
        and isinstance(parent, dict)
        and parent.get("type") == "transform"
    )


def _origin_problems(config: dict[str, Any]) -> Iterator[ConfigProblem]:
    """Report absolute-URL paths on another origin than their base URL.

    The check runs where both are literal. A base URL with a placeholder in
    its host is checked at request time instead.
    """
    resources = config.get("resources")
    if not isinstance(resources, dict):
        return
    for resource, methods in resources.items():
        if not isinstance(methods, dict):
            continue
        for method, settings in methods.items():
            if not isinstance(settings, dict):
                continue
            base_url = settings.get("base_url") or config.get("base_url")
            problem = _origin_problem(settings.get("path"), base_url)
            if problem:
                yield ConfigProblem(f"resources.{resource}.{method}.path", problem)


def _origin_problem(path: Any, base_url: Any) -> str | None:
    path_origin, base_origin = _literal_origin(path), _literal_origin(base_url)
    if path_origin is None or base_origin is None or path_origin == base_origin:
        return None
    return (
        f"path {_shown(path)} is on another origin than the base URL "
        f"{_shown(base_url)}; use a path on the base URL's host, or set the "
        "method's own base_url"
    )


def _literal_origin(url: Any) -> tuple[str, str, int | None] | None:
    """Return (scheme, host, port) of an http(s) URL with a literal host."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(url)
    if "{{" in parts.netloc:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port or default_port
