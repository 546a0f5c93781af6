"""Limits and switches that protect the server, read with the other settings.

`graphql_api.settings.Settings.from_env` reads them into `Settings.security`.
Every limit can be changed per deployment; the defaults suit an API whose
clients are other companies' back ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Deep enough for account -> install -> environment -> accounts -> edges ->
# node and a few fields below; counted in fields from the root field to a leaf.
DEFAULT_MAX_QUERY_DEPTH = 13
DEFAULT_MAX_ALIASES = 50
DEFAULT_MAX_TOKENS = 4000
# Maximum nodes that one query may ask for, counted as GitHub counts them:
# each connection's `first` or `last` times those of the connections above.
# 10,000 allows a page of 100 environments with 100 accounts each.
DEFAULT_MAX_QUERY_COST = 10_000
# Integration configs travel as variables, and large ones reach a few hundred
# kilobytes, so variables get half of the 2 MiB request body.
DEFAULT_MAX_VARIABLES_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
# Requests that one API token may send per window; 0 turns the limit off.
DEFAULT_RATE_LIMIT_REQUESTS = 1200
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60.0
# Upstream requests time out after 30 s each and a lifecycle run sends a few,
# so a request gets twice that.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 60.0

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """Limits on requests and documents, rate limits and schema exposure."""

    # Fields on the longest path of a document, introspection fields excluded.
    max_query_depth: int = DEFAULT_MAX_QUERY_DEPTH
    # Aliased fields in a document, counted once per use of a fragment.
    max_aliases: int = DEFAULT_MAX_ALIASES
    # Lexical tokens in a document; parsing stops past this number.
    max_tokens: int = DEFAULT_MAX_TOKENS
    # Nodes that a query may return (see `graphql_api.security.cost`).
    max_query_cost: int = DEFAULT_MAX_QUERY_COST
    # Bytes of the `variables` object, serialized as compact JSON.
    max_variables_bytes: int = DEFAULT_MAX_VARIABLES_BYTES
    # Nesting levels of arrays and objects in a request body or URL parameter.
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    # Requests per API token and window; 0 turns rate limiting off.
    rate_limit_requests: int = DEFAULT_RATE_LIMIT_REQUESTS
    rate_limit_window_seconds: float = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    # Seconds that a request may run before it is cancelled with 503.
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    # Whether `__schema` and `__type` may be queried.
    introspection: bool = True
    # Whether validation errors suggest names ("Did you mean ..."); always off
    # when introspection is off, since suggestions reveal the schema.
    field_suggestions: bool = True

    def __post_init__(self) -> None:
        if not self.introspection and self.field_suggestions:
            object.__setattr__(self, "field_suggestions", False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SecuritySettings:
        """Read the settings from environment variables; see the README table."""
        introspection = parse_flag(env, "GRAPHQL_INTROSPECTION", True)
        return cls(
            max_query_depth=_parse_int(env, "QUERY_MAX_DEPTH", DEFAULT_MAX_QUERY_DEPTH),
            max_aliases=_parse_int(
                env, "QUERY_MAX_ALIASES", DEFAULT_MAX_ALIASES, low=0
            ),
            max_tokens=_parse_int(env, "QUERY_MAX_TOKENS", DEFAULT_MAX_TOKENS),
            max_query_cost=_parse_int(env, "QUERY_MAX_COST", DEFAULT_MAX_QUERY_COST),
            max_variables_bytes=_parse_int(
                env, "REQUEST_MAX_VARIABLES_BYTES", DEFAULT_MAX_VARIABLES_BYTES
            ),
            max_json_depth=_parse_int(
                env, "REQUEST_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH, high=1000
            ),
            rate_limit_requests=_parse_int(
                env, "RATE_LIMIT_REQUESTS", DEFAULT_RATE_LIMIT_REQUESTS, low=0
            ),
            rate_limit_window_seconds=_parse_seconds(
                env, "RATE_LIMIT_WINDOW_SECONDS", DEFAULT_RATE_LIMIT_WINDOW_SECONDS
            ),
            request_timeout_seconds=_parse_seconds(
                env, "REQUEST_TIMEOUT_SECONDS", DEFAULT_REQUEST_TIMEOUT_SECONDS
            ),
            introspection=introspection,
            field_suggestions=parse_flag(
                env, "GRAPHQL_FIELD_SUGGESTIONS", introspection
            ),
        )


def _invalid(name: str, raw: str, rule: str) -> ValueError:
    # Imported here because graphql_api.settings imports this module.
    from graphql_api.settings import SettingsError

    return SettingsError(f"{name}={raw!r} is invalid: expected {rule}")


def _parse_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    low: int = 1,
    high: int = 1_000_000_000,
) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _invalid(name, raw, f"a whole number from {low} to {high}")
    return value


def _parse_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0.01 <= value <= 86_400:
        raise _invalid(name, raw, "a number of seconds from 0.01 to 86400")
    return value


def parse_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a true/false variable; unset or empty gives `default`."""
    raw = env.get(name)
    if not raw:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _invalid(name, raw, "true or false")
