"""Checks of mutation inputs that return user errors instead of raising.

Config and override checks call the config engine's validators, and every
problem they find becomes one INVALID_CONFIG error whose `field` is the
input path followed by the problem's JSON path.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from graphql_api.mutations.common import (
    MutationRejected,
    UserError,
    UserErrorCode,
    json_path_parts,
)


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
    """Check a text input: not blank, at most `max_length` characters.

    A None value passes unless `required` is set; callers pass None for an
    optional input that was left out.
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
    """Check that a JSON input is an object."""
    if isinstance(value, Mapping):
        return []
    return [
        bad_input(
            f"`{field[-1]}` must be a JSON object, got {type(value).__name__} "
            f"{_preview(value)}.",
            *field,
        )
    ]


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
