"""Combine an integration config with its override and its method settings.

An environment integration's `override` is deep-merged over the integration
config (`effective_config`). The request of one resource method then takes
the integration-level settings that it does not set itself (`method_config`).
Neither function modifies its inputs, but results may share unchanged nested
values with them, so callers treat configs as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from config_engine.errors import ConfigError

# Integration-level settings that a method's own value replaces. A method
# value of null switches the setting off for that method.
REPLACED_SETTINGS: Final = (
    "base_url",
    "pagination",
    "authorization",
    "query_array_format",
    "error_expression",
)


def deep_merge(base: Any, override: Any) -> Any:
    """Return `override` merged over `base`.

    Dicts merge key by key, recursively. A None (JSON null) value in
    `override` removes the key. Lists, scalars and mismatched types in
    `override` replace the value in `base`.
    """
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective_config(
    config: Mapping[str, Any], override: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the integration config with an environment integration's override.

    The override is a partial config, deep-merged with `deep_merge`. Its
    ``environment_variables`` become the ``environment_variables`` key of the
    result, where placeholders find them.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"expected the config to be an object, received {type(config).__name__}"
        )
    if override is None:
        return dict(config)
    if not isinstance(override, Mapping):
        raise ConfigError(
            "expected the override to be an object, received "
            f"{type(override).__name__}",
            "override",
        )
    merged: dict[str, Any] = deep_merge(config, override)
    return merged


def method_config(
    effective: Mapping[str, Any], resource: str, method: str
) -> dict[str, Any]:
    """Return the request config of one resource method, ready to build.

    The method's own ``base_url``, ``pagination``, ``authorization``,
    ``query_array_format`` and ``error_expression`` replace the
    integration's, and a null switches the setting off. The method's
    ``headers`` and ``query`` merge over the integration's, and a null value
    removes an entry. Header names compare case-insensitively. Raises
    ConfigError with the JSON path for an unknown resource or method.
    """
    request = _method_request(effective, resource, method)
    path = f"resources.{resource}.{method}"
    result = dict(request)
    for key in REPLACED_SETTINGS:
        if key not in request and key in effective:
            result[key] = effective[key]
    headers = _merge_entries(
        _entries(effective, "headers", "headers"),
        _entries(request, "headers", f"{path}.headers"),
        case_insensitive=True,
    )
    query = _merge_entries(
        _entries(effective, "query", "query"),
        _entries(request, "query", f"{path}.query"),
        case_insensitive=False,
    )
    for key, entries in (("headers", headers), ("query", query)):
        if entries or key in result:
            result[key] = entries
    return result


def _method_request(
    effective: Mapping[str, Any], resource: str, method: str
) -> Mapping[str, Any]:
    resources = effective.get("resources")
    if not isinstance(resources, Mapping):
        raise ConfigError(
            f"expected an object of resources, received {type(resources).__name__}",
            "resources",
        )
    methods = resources.get(resource)
    if not isinstance(methods, Mapping):
        known = ", ".join(sorted(map(str, resources))) or "none"
        raise ConfigError(
            f"resource {resource!r} is not configured; configured resources: {known}",
            f"resources.{resource}",
        )
    request = methods.get(method)
    if not isinstance(request, Mapping):
        known = ", ".join(sorted(map(str, methods))) or "none"
        raise ConfigError(
            f"method {method!r} is not configured for resource {resource!r}; "
            f"configured methods: {known}",
            f"resources.{resource}.{method}",
        )
    return request


def _entries(source: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = source.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected an object of {key}, received {type(value).__name__}", path
        )
    return value


def _merge_entries(
    base: Mapping[str, Any], override: Mapping[str, Any], *, case_insensitive: bool
) -> dict[str, Any]:
    merged = {key: value for key, value in base.items() if value is not None}
    for key, value in override.items():
        if case_insensitive:
            for existing in [name for name in merged if name.lower() == key.lower()]:
                del merged[existing]
        else:
            merged.pop(key, None)
        if value is not None:
            merged[key] = value
    return merged
