"""Checks of mutation inputs that return user errors instead of raising.

Config and override checks call the config engine's validators, and every
problem they find becomes one INVALID_CONFIG error whose `field` is the
input path followed by the problem's JSON path.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from graphql_api.mutations.common import (
    MutationRejected,
    UserError,
    UserErrorCode,
    json_path_parts,
)

# Deepest nesting of objects and lists accepted in a JSON input (config,
# override, context, credentials).
MAX_JSON_INPUT_DEPTH = 32
# Largest JSON input, measured as compact UTF-8 JSON.
MAX_JSON_INPUT_BYTES = 512 * 1024


def raise_if_any(errors: Sequence[UserError]) -> None:
    """Raise MutationRejected with `errors` unless the list is empty."""
    if errors:
        raise MutationRejected(errors)


def bad_input(message: str, *field: str) -> UserError:
    """Build a BAD_USER_INPUT error at the input path `field`."""
    return UserError(
        field=list(field), message=message, code=UserErrorCode.BAD_USER_INPUT
    )


def parse_record_id(value: str, *field: str) -> uuid.UUID:
    """Parse an id argument or raise MutationRejected naming its path."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        message = (
            f"`{field[-1]}` value {value!r} is not a valid id: expected a UUID "
            "such as '0b5e2a5c-2f4e-4f8e-9a53-1c3d6a4c2b10'."
        )
        raise MutationRejected([bad_input(message, *field)]) from None


def text_errors(
    value: str | None, *field: str, max_length: int, required: bool = True
) -> list[UserError]:
    """Check a text input: not blank, not too long, no control characters.

    The value takes at most `max_length` characters and no character of
    Unicode category Cc (NUL, tab, line breaks, ...). A None value passes
    unless `required` is set; callers pass None for an optional input that
    was left out.
    """
    name = field[-1]
    if value is None:
        return (
            [bad_input(f"`{name}` cannot be null: send a value.", *field)]
            if required
            else []
        )
    if not value.strip():
        return [
            bad_input(
                f"`{name}` is blank: send at least one visible character.", *field
            )
        ]
    if len(value) > max_length:
        return [
            bad_input(
                f"`{name}` has {len(value)} characters, but at most {max_length} "
                "are allowed.",
                *field,
            )
        ]
    control = next((char for char in value if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        # PostgreSQL rejects NUL in text, and line breaks or other control
        # characters in ids and names break logs and exports.
        return [
            bad_input(
                f"`{name}` contains the control character U+{ord(control):04X}: "
                "remove control characters such as NUL, tab and line breaks.",
                *field,
            )
        ]
    return []


def not_null_errors(value: Any, *field: str) -> list[UserError]:
    """Reject an explicit null for an optional input that cannot be unset."""
    if value is None:
        return [
            bad_input(
                f"`{field[-1]}` cannot be null: leave it out or send a value.", *field
            )
        ]
    return []


def object_errors(value: Any, *field: str) -> list[UserError]:
    """Check that a JSON input is an object within the depth and size limits.

    The limits keep every stored document readable: deeper documents would
    exhaust recursion in code that walks them, and in JSON encoders.
    """
    if not isinstance(value, Mapping):
        return [
            bad_input(
                f"`{field[-1]}` must be a JSON object, got {_json_kind(value)} "
                f"{_preview(value)}.",
                *field,
            )
        ]
    return json_size_errors(value, *field)


def json_size_errors(value: Any, *field: str) -> list[UserError]:
    """Check that a JSON input is within the depth and size limits."""
    name = field[-1]
    if json_depth_exceeds(value, MAX_JSON_INPUT_DEPTH):
        message = (
            f"`{name}` is nested more than {MAX_JSON_INPUT_DEPTH} levels deep, "
            f"but at most {MAX_JSON_INPUT_DEPTH} levels of objects and lists are "
            "allowed: flatten the document."
        )
        return [bad_input(message, *field)]
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as error:
        message = (
            f"`{name}` cannot be stored as JSON ({error}): send integers within "
            "the 64-bit range and plain JSON values."
        )
        return [bad_input(message, *field)]
    if size > MAX_JSON_INPUT_BYTES:
        message = (
            f"`{name}` is {size} bytes as JSON, but at most "
            f"{MAX_JSON_INPUT_BYTES} bytes are allowed: send a smaller document."
        )
        return [bad_input(message, *field)]
    return []


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Tell whether objects and lists nest more than `limit` levels in `value`.

    Walks with a stack instead of recursion, so any depth is safe to check.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        return "a JSON list"
    return "JSON null" if value is None else "a JSON value"


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def config_errors(config: Mapping[str, Any], *field: str) -> list[UserError]:
    """Validate an integration config with the config engine."""
    from config_engine.config import validate_config

    return [_config_error(problem, field) for problem in validate_config(dict(config))]


def override_errors(override: Mapping[str, Any], *field: str) -> list[UserError]:
    """Validate an environment override with the config engine."""
    from config_engine.config import validate_override

    return [
        _config_error(problem, field) for problem in validate_override(dict(override))
    ]


def _config_error(problem: Any, field: Sequence[str]) -> UserError:
    path = str(problem.path)
    location = path or "the document root"
    return UserError(
        field=[*field, *json_path_parts(path)],
        message=f"{location}: {problem.message}",
        code=UserErrorCode.INVALID_CONFIG,
    )
