"""The `webhook` section: inbound webhooks from the upstream.

- ``signature_verification`` checks the raw request. ``hmac`` signs the
  ``parts`` (literals, ``$body``, ``$header.<name>``, ``$query.<name>``) with
  the ``secret`` template and compares the result, in ``hex`` or ``base64``
  (``encoding`` or ``string_type``), with ``compare_with``, such as
  ``v0=$header.x-slack-signature`` where ``v0=`` is a prefix. ``basic``
  checks ``username`` and ``password``, ``bearer`` checks ``token``.
- ``handle_verification`` (JSONata) returns the response to a vendor's
  handshake.
- ``payload_transform`` (JSONata) reshapes the body into events.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, TypeAlias

from pydantic import AfterValidator, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from config_engine.config.base import (
    ConfigModel,
    Jsonata,
    Lowered,
    LoweredWithoutHyphens,
    MissingKeyModel,
    discriminator,
    is_partial,
    missing_setting,
    require,
    tag,
)

SIGNATURE_FORMATS: Final = ("hmac", "basic", "bearer")
# A part that starts with "$" reads the request: the raw body, or a header
# or query parameter by name.
_REQUEST_PART: Final = re.compile(r"\$(?:body|(?:header|query)\.[^\s.]+)")
_SIGNATURE_SOURCE: Final = re.compile(r"\$(?:header|query)\.[^\s.]+$")

Encoding: TypeAlias = Annotated[Literal["hex", "base64"], Lowered]


def _check_part(part: str) -> str:
    if part.startswith("$") and not _REQUEST_PART.fullmatch(part):
        raise PydanticCustomError(
            "invalid_signature_part",
            "expected a literal, '$body', '$header.<name>' or '$query.<name>', "
            "received {part}",
            {"part": repr(part)},
        )
    return part


# One part of the signed message: a literal, or a value read from the request.
SignaturePart: TypeAlias = Annotated[str, AfterValidator(_check_part)]


class HmacConfig(ConfigModel):
    """An HMAC signature over parts of the request."""

    algorithm: (
        Annotated[Literal["sha1", "sha256", "sha512"], LoweredWithoutHyphens] | None
    ) = None
    secret: str | None = None
    parts: list[SignaturePart] | None = None
    compare_with: str | None = None
    encoding: Encoding | None = None
    string_type: Encoding | None = None

    @field_validator("compare_with")
    @classmethod
    def _check_compare_with(cls, compare_with: str | None) -> str | None:
        if compare_with is not None and not _SIGNATURE_SOURCE.search(compare_with):
            raise PydanticCustomError(
                "invalid_signature_source",
                "expected where the signature is, such as '$header.x-signature' "
                "or 'v0=$header.x-slack-signature', received {value}",
                {"value": repr(compare_with)},
            )
        return compare_with

    @model_validator(mode="after")
    def _check_required(self, info: ValidationInfo) -> HmacConfig:
        require(self, info, "secret", "HMAC verification needs a secret template")
        require(
            self,
            info,
            "compare_with",
            "HMAC verification needs compare_with, such as '$header.x-signature'",
        )
        return self


class BasicVerificationConfig(ConfigModel):
    """HTTP Basic credentials that the request must carry."""

    username: str | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _check_username(self, info: ValidationInfo) -> BasicVerificationConfig:
        require(self, info, "username", "basic verification needs a username template")
        return self


class BearerVerificationConfig(ConfigModel):
    """A bearer token that the request must carry."""

    token: str | None = None

    @model_validator(mode="after")
    def _check_token(self, info: ValidationInfo) -> BearerVerificationConfig:
        require(self, info, "token", "bearer verification needs a token template")
        return self


class HmacVerification(ConfigModel):
    """HMAC signature verification."""

    format: Literal["hmac"] = "hmac"
    config: HmacConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> HmacVerification:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.secret", "HMAC verification needs a config with a secret"
            )
        return self


class BasicVerification(ConfigModel):
    """HTTP Basic verification."""

    format: Literal["basic"] = "basic"
    config: BasicVerificationConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> BasicVerification:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.username", "basic verification needs a config with a username"
            )
        return self


class BearerVerification(ConfigModel):
    """Bearer token verification."""

    format: Literal["bearer"] = "bearer"
    config: BearerVerificationConfig | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> BearerVerification:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.token", "bearer verification needs a config with a token"
            )
        return self


class MissingSignatureFormat(MissingKeyModel):
    """An object without its ``format``, valid only in an override."""

    missing_key = "format"
    choices = SIGNATURE_FORMATS


SignatureVerification: TypeAlias = Annotated[
    Annotated[HmacVerification, tag("format", "hmac")]
    | Annotated[BasicVerification, tag("format", "basic")]
    | Annotated[BearerVerification, tag("format", "bearer")]
    | Annotated[MissingSignatureFormat, tag("format", "")],
    discriminator("format"),
]


class Webhook(ConfigModel):
    """Inbound webhook settings: signature check, handshake and payload reshape."""

    signature_verification: SignatureVerification | None = None
    handle_verification: Jsonata | None = None
    payload_transform: Jsonata | None = None
