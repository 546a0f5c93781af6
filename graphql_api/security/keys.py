"""The server's secret key: where it comes from and when the server refuses it.

``GRAPHQL_API_SECRET_KEY`` contains one or more comma-separated keys (see
`db.crypto.KeyRing`). Outside demo mode the server does not start without
one, with a malformed one, or with a placeholder such as the demo key.

Demo mode without a key uses `DEMO_SECRET_KEY`. That key is published in
this file, so it protects nothing: the demo data holds only fake
credentials, and a real deployment sets its own key.
"""

from __future__ import annotations

import logging

from db.crypto import SECRET_KEY_VARIABLE, KeyRing, SecretKeyError, use_keyring
from graphql_api.settings import Settings, SettingsError

logger = logging.getLogger("graphql_api.security")

# Public key of demo mode; refused outside it.
DEMO_SECRET_KEY = "YHSbtNO6Qf6vRK526YvIQtJTAtXCVd8zj02cL0OA1WI"
_GENERATE = "generate one with `graphql-api generate-key`"


def resolve_secret_key(settings: Settings) -> Settings:
    """Return `settings` with the key the server will use, or raise SettingsError.

    Demo mode without a key gets `DEMO_SECRET_KEY`. Raises SettingsError,
    naming ``GRAPHQL_API_SECRET_KEY`` and how to generate a key, when a key
    is required and missing, malformed, or a placeholder.
    """
    if settings.secret_key is None:
        if not settings.demo:
            raise SettingsError(
                f"{SECRET_KEY_VARIABLE} is not set: stored credentials are "
                f"encrypted with it, so it is required; {_GENERATE} and set it in "
                "the environment."
            )
        logger.warning(
            "demo_secret_key_in_use reason='demo mode without %s' note='the key "
            "is public, so the stored credentials are not protected'",
            SECRET_KEY_VARIABLE,
        )
        return settings.with_changes(secret_key=DEMO_SECRET_KEY)
    parse_keyring(settings.secret_key)  # raises SettingsError on a malformed key
    if not settings.demo and DEMO_SECRET_KEY in _keys_of(settings.secret_key):
        raise SettingsError(
            f"{SECRET_KEY_VARIABLE} contains the public demo key, which is "
            f"allowed only with --demo: {_GENERATE}."
        )
    return settings


def parse_keyring(raw: str) -> KeyRing:
    """Parse ``GRAPHQL_API_SECRET_KEY``, raising SettingsError on a bad key."""
    try:
        return KeyRing.from_setting(raw)
    except SecretKeyError as error:
        raise SettingsError(str(error)) from None


def install_keyring(settings: Settings) -> KeyRing:
    """Check the secret key of `settings` and install it for this process.

    Returns the installed key ring. Raises SettingsError like
    `resolve_secret_key`.
    """
    resolved = resolve_secret_key(settings)
    assert resolved.secret_key is not None
    keyring = parse_keyring(resolved.secret_key)
    use_keyring(keyring)
    return keyring


def _keys_of(raw: str) -> set[str]:
    return {part.strip().rstrip("=") for part in raw.split(",")}
