"""The `credentials` section: what a customer enters or grants to connect.

A config holds one credential block with a ``format``, or a map of blocks
keyed by format when the integration accepts several. Formats:

- ``api_key``: form fields, stored in the account context (also used for
  HTTP Basic, with ``username`` and ``password`` fields).
- ``oauth2``: the authorization-code flow. ``config.auth.tokenHost`` is
  required.
- ``oauth2_client_credentials``: the client-credentials grant.
  ``config.auth.tokenHost`` is required.
- ``oauth`` (1.0a) and ``keka_oauth``: accepted so that Truto configs load,
  but only their fields are checked, because the engine does not run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from config_engine.config.base import (
    TAG_MARKER,
    ConfigModel,
    HttpTemplate,
    Lowered,
    MissingKeyModel,
    RegexPattern,
    discriminator,
    is_partial,
    missing_setting,
    require,
    tag,
)

CREDENTIAL_FORMATS = (
    "api_key",
    "oauth2",
    "oauth2_client_credentials",
    "oauth",
    "keka_oauth",
)
FORMAT_KEYS = frozenset(CREDENTIAL_FORMATS)


class FieldOption(ConfigModel):
    """One choice of a ``single_select`` field."""

    label: str | None = None
    value: str | None = None


class CredentialField(ConfigModel):
    """A form field the customer fills in, stored under its `name` in the context."""

    name: str | None = None
    label: str | None = None
    type: Literal["text", "password", "single_select"] | None = None
    required: bool | None = None
    pattern: RegexPattern | None = None
    format: str | None = None
    help_text: str | None = None
    placeholder: str | None = None
    default: str | None = None
    options: list[FieldOption] | None = None
    transform: Literal["lowercase", "uppercase", "sha256"] | None = None

    @model_validator(mode="after")
    def _check_required(self, info: ValidationInfo) -> CredentialField:
        require(self, info, "name", "a credential field needs a name")
        if self.type == "single_select":
            require(self, info, "options", "a single_select field needs options")
        return self


class CredentialConfig(ConfigModel):
    """The `config` of a credential block: form fields and help links."""

    fields: list[CredentialField] | None = None
    documentation_link: str | None = None
    permissions_text: str | None = None

    @field_validator("fields")
    @classmethod
    def _check_unique_names(
        cls, fields: list[CredentialField] | None
    ) -> list[CredentialField] | None:
        names = [field.name for field in fields or [] if field.name is not None]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise PydanticCustomError(
                "duplicate_field_name",
                "credential field names must be unique; repeated: {names}",
                {"names": ", ".join(duplicates)},
            )
        return fields


class OAuthEndpoints(ConfigModel):
    """The `auth` block of an OAuth config: token and authorize endpoints."""

    token_host: HttpTemplate | None = Field(default=None, alias="tokenHost")
    token_path: str | None = Field(default=None, alias="tokenPath")
    refresh_path: str | None = Field(default=None, alias="refreshPath")
    revoke_path: str | None = Field(default=None, alias="revokePath")
    authorize_host: HttpTemplate | None = Field(default=None, alias="authorizeHost")
    authorize_path: str | None = Field(default=None, alias="authorizePath")


class OAuthClient(ConfigModel):
    """The OAuth client id and secret, as templates."""

    id: str | None = None
    secret: str | None = None


AuthorizationMethod: TypeAlias = Annotated[Literal["header", "body"], Lowered]
BodyFormat: TypeAlias = Annotated[Literal["form", "json"], Lowered]


class OAuthOptions(ConfigModel):
    """Token request options: client authentication and body format."""

    authorization_method: AuthorizationMethod | None = Field(
        default=None, alias="authorizationMethod"
    )
    body_format: BodyFormat | None = Field(default=None, alias="bodyFormat")
    scope_separator: str | None = Field(default=None, alias="scopeSeparator")


class OAuth2Config(CredentialConfig):
    """The `config` of the ``oauth2`` and ``oauth2_client_credentials`` formats.

    ``authorizationMethod`` and ``bodyFormat`` may sit in ``options`` or in
    the config itself. ``tokenParams`` and ``refreshParams`` are templates of
    extra token request parameters.
    """

    client: OAuthClient | None = None
    auth: OAuthEndpoints | None = None
    scope: list[str] | str | None = None
    options: OAuthOptions | None = None
    authorization_method: AuthorizationMethod | None = Field(
        default=None, alias="authorizationMethod"
    )
    body_format: BodyFormat | None = Field(default=None, alias="bodyFormat")
    token_params: dict[str, Any] | None = Field(default=None, alias="tokenParams")
    refresh_params: dict[str, Any] | None = Field(default=None, alias="refreshParams")

    @model_validator(mode="after")
    def _check_token_host(self, info: ValidationInfo) -> OAuth2Config:
        if is_partial(info):
            return self
        if self.auth is None or self.auth.token_host is None:
            raise missing_setting(
                "auth.tokenHost",
                "OAuth 2.0 credentials need auth.tokenHost, the token server's URL",
            )
        return self


class ApiKeyCredential(ConfigModel):
    """Form fields stored in the account context, such as an API key."""

    format: Literal["api_key"] = "api_key"
    config: CredentialConfig | None = None


class OAuth2Credential(ConfigModel):
    """The OAuth 2.0 authorization-code flow."""

    format: Literal["oauth2"] = "oauth2"
    config: OAuth2Config | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> OAuth2Credential:
        require(self, info, "config", "OAuth 2.0 credentials need a config")
        return self


class ClientCredentialsCredential(ConfigModel):
    """The OAuth 2.0 client-credentials grant."""

    format: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    config: OAuth2Config | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> ClientCredentialsCredential:
        require(self, info, "config", "client-credentials OAuth needs a config")
        return self


class OtherCredential(ConfigModel):
    """A Truto format the engine does not run (``oauth``, ``keka_oauth``)."""

    format: Literal["oauth", "keka_oauth"] = "oauth"
    config: CredentialConfig | None = None


class MissingCredentialFormat(MissingKeyModel):
    """An object without its ``format``, valid only in an override."""

    missing_key = "format"
    choices = CREDENTIAL_FORMATS


Credential: TypeAlias = Annotated[
    Annotated[ApiKeyCredential, tag("format", "api_key")]
    | Annotated[OAuth2Credential, tag("format", "oauth2")]
    | Annotated[ClientCredentialsCredential, tag("format", "oauth2_client_credentials")]
    | Annotated[OtherCredential, tag("format", "oauth")]
    | Annotated[OtherCredential, tag("format", "keka_oauth")]
    | Annotated[MissingCredentialFormat, tag("format", "")],
    discriminator("format"),
]


def _fill_formats(value: Any) -> Any:
    # In a map of blocks, the key names the format of a block that omits it.
    if not isinstance(value, dict):
        return value
    return {
        key: {"format": key, **block}
        if isinstance(block, dict) and "format" not in block
        else block
        for key, block in value.items()
    }


def _credentials_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return f"{TAG_MARKER}kind=single"
    if isinstance(value, Mapping):
        # A map is keyed by format names. Anything else is one block, which
        # in an override may leave out the format that the config sets.
        by_format = value and "format" not in value and set(value) <= FORMAT_KEYS
        return f"{TAG_MARKER}kind={'by_format' if by_format else 'single'}"
    return None


Credentials: TypeAlias = Annotated[
    Annotated[Credential, tag("kind", "single")]
    | Annotated[
        dict[str, Credential], BeforeValidator(_fill_formats), tag("kind", "by_format")
    ],
    Discriminator(_credentials_kind),
]
