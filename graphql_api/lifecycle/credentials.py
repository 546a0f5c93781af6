"""Credential checks and changes of an account context.

Integrations declare the credentials that an account must supply under
``credentials.config.fields``, as ``{"name", "type", "required", "pattern",
"format"}``. The values live at the top level of the account context, and
OAuth tokens live under ``oauth.token``, as in Truto.

The credentials of a context are its ``oauth`` object, the declared fields of
type ``password`` and any key named like a secret (see
`graphql_api.secrets.is_secret_key`). A reconnect replaces exactly these, and
`merge_credentials` accepts only these.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from config_engine.engine import OAUTH_FORMATS, select_credentials
from config_engine.errors import ConfigError
from config_engine.oauth import token_expiry
from graphql_api.errors import truncate_repr
from graphql_api.lifecycle.errors import Problem, ProblemCode
from graphql_api.secrets import declared_password_fields, is_secret_key

# Maximum length, in characters, of a credential value matched against a pattern.
MAX_PATTERN_INPUT = 10_000
OAUTH_KEY = "oauth"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_hostname(value: str) -> bool:
    return _HOSTNAME.fullmatch(value) is not None


def _is_integer(value: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", value) is not None


# Values of a field's `format`, each with its check and how to describe it.
FORMATS = {
    "email": (_is_email, "an e-mail address such as 'name@example.com'"),
    "url": (_is_url, "an http(s) URL such as 'https://app.example.com'"),
    "uri": (_is_url, "an http(s) URL such as 'https://app.example.com'"),
    "uuid": (_is_uuid, "a UUID"),
    "hostname": (_is_hostname, "a host name such as 'acme.example.com'"),
    "integer": (_is_integer, "a whole number"),
}


@dataclass(frozen=True, slots=True)
class CredentialScheme:
    """The credential block in use for an account and where it sits in the config."""

    format: str | None
    path: str
    fields: tuple[Mapping[str, Any], ...]

    @property
    def uses_oauth(self) -> bool:
        """Whether the account authenticates with an OAuth token."""
        return self.format in OAUTH_FORMATS

    @property
    def uses_client_credentials(self) -> bool:
        """Whether the server fetches the token with the client-credentials grant."""
        return self.format == "oauth2_client_credentials"


def credential_scheme(
    config: Mapping[str, Any], authentication_method: str | None
) -> CredentialScheme | None:
    """Return the credential block of `authentication_method`, or None if none exists.

    Raises ConfigError when the config has credentials but none for the method.
    """
    if not config.get("credentials"):
        return None
    block, path = select_credentials(config, authentication_method)
    fields = (block.get("config") or {}).get("fields") or []
    if not isinstance(fields, list):
        raise ConfigError("expected a list of field objects", f"{path}.config.fields")
    fmt = block.get("format")
    return CredentialScheme(
        format=str(fmt) if fmt is not None else authentication_method,
        path=path,
        fields=tuple(fields),
    )


def field_problems(
    scheme: CredentialScheme | None,
    context: Mapping[str, Any],
    *input_path: str,
) -> list[Problem]:
    """Check the context against the declared fields: required, pattern, format.

    Problems name the input path ``input_path + (field name,)``. Raises
    ConfigError for a field declaration that cannot be used, such as a pattern
    that is not a regular expression.
    """
    if scheme is None:
        return []
    problems = []
    for index, spec in enumerate(scheme.fields):
        path = f"{scheme.path}.config.fields.{index}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ConfigError("expected an object with a string `name`", path)
        problem = _field_problem(spec, context.get(spec["name"]), path)
        if problem is not None:
            problems.append(
                Problem(
                    ProblemCode.BAD_USER_INPUT, problem, (*input_path, spec["name"])
                )
            )
    return problems


def _field_problem(spec: Mapping[str, Any], value: Any, path: str) -> str | None:
    name = spec["name"]
    label = f"Credential field {name!r}"
    if value is None or value == "":
        if spec.get("required"):
            return f"{label} is missing: the integration requires it."
        return None
    pattern, fmt = spec.get("pattern"), spec.get("format")
    if (pattern or fmt) and not isinstance(value, str):
        return f"{label} is {type(value).__name__}, expected a string."
    if pattern:
        problem = _pattern_problem(label, str(pattern), str(value), path)
        if problem:
            return problem
    if fmt:
        return _format_problem(label, str(fmt), str(value), path)
    return None


def _pattern_problem(label: str, pattern: str, value: str, path: str) -> str | None:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(
            f"pattern {pattern!r} is not a valid regular expression: {error}",
            f"{path}.pattern",
        ) from None
    if len(value) > MAX_PATTERN_INPUT or compiled.fullmatch(value) is None:
        return f"{label} does not match the pattern {pattern!r}: check the value."
    return None


def _format_problem(label: str, fmt: str, value: str, path: str) -> str | None:
    rule = FORMATS.get(fmt)
    if rule is None:
        raise ConfigError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}",
            f"{path}.format",
        )
    check, description = rule
    if check(value):
        return None
    return f"{label} is invalid: expected {description}."


def is_credential_key(
    name: str,
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> bool:
    """Tell whether a top-level context key contains credentials."""
    if name == OAUTH_KEY or is_secret_key(name):
        return True
    return name in declared_password_fields(integration_config, override)


def replace_credentials(
    context: Mapping[str, Any],
    credentials: Mapping[str, Any],
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return the context with its credentials replaced by `credentials`.

    Keys that are not credentials stay unless `credentials` sets them.
    """
    other_keys = {
        key: value
        for key, value in context.items()
        if not is_credential_key(key, integration_config, override)
    }
    return {**other_keys, **credentials}


def merge_credentials(
    context: Mapping[str, Any],
    credentials: Mapping[str, Any],
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Merge credential keys into the context, as Truto's credentials endpoint does.

    A null value removes its key. ``oauth.token`` merges key by key, so that a
    new access token keeps the stored refresh token. Keys that are not
    credentials are problems, and then the context is returned unchanged.
    """
    problems = [
        Problem(
            ProblemCode.BAD_USER_INPUT,
            f"Context key {key!r} is not a credential: change it with "
            "updateIntegratedAccount instead.",
            ("input", "credentials", key),
        )
        for key in credentials
        if not is_credential_key(key, integration_config, override)
    ]
    problems += _oauth_problems(credentials)
    if problems:
        return dict(context), problems
    merged = dict(context)
    for key, value in credentials.items():
        if value is None:
            merged.pop(key, None)
        elif key == OAUTH_KEY:
            merged[key] = _merge_oauth(context.get(key), value)
        else:
            merged[key] = value
    return merged, []


def _oauth_problems(credentials: Mapping[str, Any]) -> list[Problem]:
    oauth = credentials.get(OAUTH_KEY)
    if oauth is None:
        return []
    token = oauth.get("token") if isinstance(oauth, Mapping) else None
    if (
        isinstance(oauth, Mapping)
        and set(oauth) <= {"token"}
        and (token is None or isinstance(token, Mapping))
    ):
        return []
    return [
        Problem(
            ProblemCode.BAD_USER_INPUT,
            'Credential key "oauth" must be an object of the form '
            '{"token": {"access_token": ..., "refresh_token": ...}}.',
            ("input", "credentials", OAUTH_KEY),
        )
    ]


def _merge_oauth(current: Any, patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current) if isinstance(current, Mapping) else {}
    token_patch = patch.get("token")
    if token_patch is None:
        merged.pop("token", None)
        return merged
    token = dict(merged.get("token") or {})
    for key, value in token_patch.items():
        if value is None:
            token.pop(key, None)
        else:
            token[key] = value
    merged["token"] = token
    return merged


def stored_token(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Return the context's ``oauth.token`` object, if it has one."""
    oauth = context.get(OAUTH_KEY)
    token = oauth.get("token") if isinstance(oauth, Mapping) else None
    return token if isinstance(token, Mapping) else None


def normalize_token(
    context: Mapping[str, Any], now: datetime
) -> tuple[dict[str, Any], datetime | None]:
    """Store the token's expiry as an ISO ``expires_at`` and return it too.

    A token given with ``expires_in`` (seconds from now), as Truto's import
    accepts, gets an absolute ``expires_at`` so that later reads do not depend
    on when it was stored. Contexts without a token are returned unchanged.
    """
    token = stored_token(context)
    if token is None:
        return dict(context), None
    expires_at = token_expiry(token, now)
    normalized = {key: value for key, value in token.items() if key != "expires_in"}
    normalized["expires_at"] = expires_at.isoformat() if expires_at else None
    oauth = {**context[OAUTH_KEY], "token": normalized}
    return {**context, OAUTH_KEY: oauth}, expires_at


def token_problems(
    scheme: CredentialScheme | None, context: Mapping[str, Any], *input_path: str
) -> list[Problem]:
    """Check that an OAuth account context carries an access token.

    Client-credentials accounts are exempt, because the server fetches their
    token. Problems name ``input_path + ("oauth",)``, the input that the
    context came from (``input.context`` or ``input.credentials``).
    """
    if scheme is None or not scheme.uses_oauth or scheme.uses_client_credentials:
        return []
    token = stored_token(context)
    access_token = token.get("access_token") if token else None
    if isinstance(access_token, str) and access_token:
        return []
    where = ".".join((*input_path[1:], OAUTH_KEY, "token", "access_token"))
    return [
        Problem(
            ProblemCode.BAD_USER_INPUT,
            f"An {scheme.format} account needs an access token as a non-empty "
            f"string at {where}, {_described(access_token)}: add the token that "
            "the authorization returned.",
            (*input_path, OAUTH_KEY),
        )
    ]


def _described(value: Any) -> str:
    if value is None:
        return "but there is none"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kind = kinds.get(type(value), "a JSON object or list")
    received = "an empty string" if value == "" else f"{kind} {truncate_repr(value)}"
    return f"but got {received}"
