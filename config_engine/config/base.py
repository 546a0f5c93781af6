"""Building blocks of the config models: the base model and checked string types.

Every model allows keys it does not declare, because Truto configs carry keys
this engine does not interpret, and validates every key it declares in strict
mode, so a number is not accepted for a string.

Validation runs in one of two modes, set by the validation context:

- full (``{"partial": False}``): an integration config, which must contain
  what the engine needs, such as a method's ``path``.
- partial (``{"partial": True}``): an environment integration's override,
  which is deep-merged over a full config, so nothing in it is required.

Required settings are therefore checked by `require` in model validators
rather than declared as required fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Tag,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from config_engine import jsonata
from config_engine.errors import JsonataError

# Error type of a required setting that is missing. Its context names the
# key, which the problem path gets as its last part.
MISSING_SETTING: Final = "missing_setting"
# An HTTP header name is an RFC 9110 token.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Tags of discriminated unions start with this marker, which distinguishes
# them from config keys in error locations, where they are removed.
TAG_MARKER: Final = "§"


class ConfigModel(BaseModel):
    """Base of the config models: extra keys allowed, declared keys strict."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


def is_partial(info: ValidationInfo) -> bool:
    """Return whether the validation checks an override, where nothing is required."""
    return bool(info.context and info.context.get("partial"))


def require(model: BaseModel, info: ValidationInfo, key: str, message: str) -> None:
    """Raise a missing-setting error for an unset `key`, except in partial mode."""
    if is_partial(info):
        return
    if getattr(model, key) is None:
        field = type(model).model_fields[key]
        raise PydanticCustomError(MISSING_SETTING, message, {"key": field.alias or key})


def missing_setting(key: str, message: str) -> PydanticCustomError:
    """Return the error for a required `key` that is missing."""
    return PydanticCustomError(MISSING_SETTING, message, {"key": key})


def tag(key: str, value: str) -> Tag:
    """Return the union tag of members whose `key` equals `value`."""
    return Tag(f"{TAG_MARKER}{key}={value}")


def discriminator(key: str) -> Discriminator:
    """Return a discriminator that picks a union member by the value of `key`.

    A missing key gives the tag with an empty value, whose member is a
    `MissingKeyModel`. A value that is not an object matches no member.
    """

    def tag_of(value: Any) -> str | None:
        if isinstance(value, Mapping):
            selected = value.get(key)
        elif isinstance(value, BaseModel):
            selected = getattr(value, key, None)
        else:
            return None
        if selected is None:
            return f"{TAG_MARKER}{key}="
        return f"{TAG_MARKER}{key}={selected}"

    return Discriminator(tag_of)


def kind_discriminator(kinds: Mapping[type, str]) -> Discriminator:
    """Return a discriminator that picks a union member by the input's JSON type."""

    def tag_of(value: Any) -> str | None:
        for kind, name in kinds.items():
            if isinstance(value, kind):
                return f"{TAG_MARKER}kind={name}"
        return None

    return Discriminator(tag_of)


class MissingKeyModel(ConfigModel):
    """Base of the union member for an object without its discriminating key.

    An override may leave the key out, because the config it merges over
    sets it. A full config may not. Subclasses set `missing_key` and
    `choices`.
    """

    missing_key: ClassVar[str] = "format"
    choices: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _check_key(self, info: ValidationInfo) -> MissingKeyModel:
        if not is_partial(info):
            expected = ", ".join(repr(choice) for choice in self.choices)
            raise missing_setting(
                self.missing_key,
                f"{self.missing_key} is missing; expected one of {expected}",
            )
        return self


def _compile_jsonata(expression: str) -> str:
    try:
        jsonata.compile(expression)
    except JsonataError as error:
        raise PydanticCustomError(
            "invalid_jsonata",
            "invalid JSONata expression: {error}",
            {"error": str(error)},
        ) from error
    return expression


def _check_http_template(value: str) -> str:
    lowered = value.lower()
    if lowered.startswith(("http://", "https://")) or value.startswith("{{"):
        return value
    raise PydanticCustomError(
        "invalid_url",
        "expected an http(s) URL or a placeholder such as "
        "'https://{{context.subdomain}}.example.com', received {value}",
        {"value": repr(value)},
    )


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise PydanticCustomError(
            "invalid_pattern",
            "invalid regular expression {value}: {error}",
            {"value": repr(value), "error": str(error)},
        ) from error
    return value


def _check_header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise PydanticCustomError(
            "invalid_header_name",
            "expected an HTTP header name such as 'X-Api-Key', without spaces "
            "or line breaks, received {name}",
            {"name": _short(name)},
        )
    return name


def _check_header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PydanticCustomError(
            "invalid_header_value",
            "a header value may not contain a line break (CR or LF), received {value}",
            {"value": _short(value)},
        )
    return value


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _lower_without_hyphens(value: Any) -> Any:
    return value.lower().replace("-", "") if isinstance(value, str) else value


# A JSONata expression, compiled when the config is validated.
Jsonata: TypeAlias = Annotated[str, AfterValidator(_compile_jsonata)]
# A URL template: an http(s) URL, or one that starts with a placeholder.
HttpTemplate: TypeAlias = Annotated[str, AfterValidator(_check_http_template)]
# A regular expression, such as a credential field's pattern.
RegexPattern: TypeAlias = Annotated[str, AfterValidator(_check_regex)]
# An HTTP header name (an RFC 9110 token) and a header value template, which
# may not contain CR or LF, since those would start another header.
HeaderName: TypeAlias = Annotated[str, AfterValidator(_check_header_name)]
HeaderValue: TypeAlias = Annotated[str, AfterValidator(_check_header_value)]
# Case-insensitive names are compared in lower case.
Lowered = BeforeValidator(_lower)
LoweredWithoutHyphens = BeforeValidator(_lower_without_hyphens)
