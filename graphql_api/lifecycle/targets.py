"""Resolution of what a run works with: the effective config, the credential
block of the account's authentication method, and a checked context.

Each function raises LifecycleRejected with a problem that names the input
at fault, or INVALID_CONFIG when the integration's config is to blame.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from config_engine.errors import ConfigError
from db.types import utc_now
from graphql_api.lifecycle.credentials import (
    CredentialScheme,
    credential_scheme,
    field_problems,
    normalize_token,
    token_problems,
)
from graphql_api.lifecycle.errors import LifecycleRejected, ProblemCode, reject
from graphql_api.lifecycle.store import Configs


def effective(configs: Configs) -> dict[str, Any]:
    """Return the integration config with the install's override merged in."""
    try:
        return configs.effective
    except ConfigError as error:
        raise invalid_config(error) from error


def invalid_config(error: ConfigError) -> LifecycleRejected:
    """Build the INVALID_CONFIG rejection of a config that cannot run."""
    return reject(
        ProblemCode.INVALID_CONFIG,
        f"The integration config cannot run: {error.message}. Fix the "
        "integration or the install's override.",
    )


def authentication(
    config: Mapping[str, Any], requested: str | None, *, from_input: bool = False
) -> tuple[str | None, CredentialScheme | None]:
    """Return the account's authentication method and its credential block.

    With `from_input`, `requested` is the caller's ``authenticationMethod``,
    and a method that the config does not offer is BAD_USER_INPUT. Otherwise
    it is the stored method of an existing account, and a config with one
    credential block is used whatever method the account names.
    """
    try:
        scheme = credential_scheme(config, requested)
    except ConfigError as error:
        if from_input and requested is not None:
            raise reject(
                ProblemCode.BAD_USER_INPUT,
                f"Authentication method {requested!r} does not fit the "
                f"integration: {error.message}.",
                "input",
                "authenticationMethod",
            ) from error
        raise invalid_config(error) from error
    if scheme is None:
        return requested, None
    if from_input and requested is not None and scheme.format != requested:
        raise reject(
            ProblemCode.BAD_USER_INPUT,
            f"Authentication method {requested!r} does not match the "
            f"integration's credentials format {scheme.format!r}: leave it out "
            "or pass the same value.",
            "input",
            "authenticationMethod",
        )
    return requested or scheme.format, scheme


def checked_context(
    scheme: CredentialScheme | None, context: Mapping[str, Any], *input_path: str
) -> tuple[dict[str, Any], datetime | None]:
    """Check the credential fields and the OAuth token, then normalize the token.

    Returns the context with the token's expiry stored as ``expires_at``, and
    that expiry.
    """
    try:
        problems = field_problems(scheme, context, *input_path)
    except ConfigError as error:
        raise invalid_config(error) from error
    problems += token_problems(scheme, context, *input_path)
    if problems:
        raise LifecycleRejected(problems)
    return normalize_token(context, utc_now())
