"""The `authorization` section: how credentials go onto upstream requests.

Formats:

- ``bearer``: ``Authorization: Bearer <token>``, where ``config.token`` is an
  optional template (the default is the account's OAuth access token).
- ``basic``: HTTP Basic from the ``config.username`` and ``config.password``
  templates.
- ``header``: ``config.header_name`` and ``config.header_value``, or a JSONata
  ``config.expression`` that returns an object of headers.

A method's own ``authorization`` replaces the integration's.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, TypeAlias

from pydantic import ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from config_engine.config.base import (
    ConfigModel,
    HeaderValue,
    Jsonata,
    MissingKeyModel,
    discriminator,
    is_partial,
    missing_setting,
    tag,
)

AUTHORIZATION_FORMATS: Final = ("bearer", "basic", "header")
# An HTTP header name is an RFC 9110 token.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class BearerConfig(ConfigModel):
    """The token template of bearer authorization."""

    token: str | None = None


class BasicConfig(ConfigModel):
    """The username and password templates of HTTP Basic authorization."""

    username: str | None = None
    password: str | None = None


class HeaderConfig(ConfigModel):
    """One header from a name and a value template, or headers from JSONata."""

    header_name: str | None = None
    header_value: HeaderValue | None = None
    expression: Jsonata | None = None

    @field_validator("header_name")
    @classmethod
    def _check_header_name(cls, name: str | None) -> str | None:
        if name is not None and not _HEADER_NAME.fullmatch(name):
            raise PydanticCustomError(
                "invalid_header_name",
                "expected an HTTP header name such as 'X-Api-Key', received {name}",
                {"name": repr(name)},
            )
        return name

    @model_validator(mode="after")
    def _check_source(self, info: ValidationInfo) -> HeaderConfig:
        if is_partial(info) or self.expression is not None:
            return self
        for key in ("header_name", "header_value"):
            if getattr(self, key) is None:
                raise missing_setting(
                    key,
                    "header authorization needs header_name and header_value, "
                    "or an expression",
                )
        return self


class BearerAuthorization(ConfigModel):
    """Bearer token authorization."""

    format: Literal["bearer"] = "bearer"
    config: BearerConfig | None = None


class BasicAuthorization(ConfigModel):
    """HTTP Basic authorization."""

    format: Literal["basic"] = "basic"
    config: BasicConfig | None = None


class HeaderAuthorization(ConfigModel):
    """Authorization by custom headers."""

    format: Literal["header"] = "header"
    config: HeaderConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> HeaderAuthorization:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config",
                "header authorization needs a config with header_name and "
                "header_value, or an expression",
            )
        return self


class MissingAuthorizationFormat(MissingKeyModel):
    """An object without its ``format``, valid only in an override."""

    missing_key = "format"
    choices = AUTHORIZATION_FORMATS


Authorization: TypeAlias = Annotated[
    Annotated[BearerAuthorization, tag("format", "bearer")]
    | Annotated[BasicAuthorization, tag("format", "basic")]
    | Annotated[HeaderAuthorization, tag("format", "header")]
    | Annotated[MissingAuthorizationFormat, tag("format", "")],
    discriminator("format"),
]
