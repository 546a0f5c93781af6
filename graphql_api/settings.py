"""Settings read once from the environment at start-up."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./graphql_api.db"
# Upstream requests that bulk revalidation sends at once per integration. Vendors'
# concurrency limits vary, so this is a moderate guess to tune per deployment.
DEFAULT_LIFECYCLE_CONCURRENCY = 16
DEFAULT_LIFECYCLE_LEASE_SECONDS = 30.0
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Raised when an environment variable holds a value the server cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The server's settings. Build it with `Settings.from_env`."""

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    demo: bool = False
    # Maximum concurrent upstream requests per integration in bulk revalidation.
    lifecycle_concurrency: int = DEFAULT_LIFECYCLE_CONCURRENCY
    # Seconds that a lifecycle run owns an account before its lease expires. A
    # live run renews its lease every third of this time.
    lifecycle_lease_seconds: float = DEFAULT_LIFECYCLE_LEASE_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=env.get("GRAPHQL_API_SECRET_KEY") or None,
            host=env.get("HOST") or "127.0.0.1",
            port=_parse_port(env.get("PORT")),
            log_level=_parse_log_level(env.get("LOG_LEVEL")),
            lifecycle_concurrency=_parse_concurrency(env.get("LIFECYCLE_CONCURRENCY")),
            lifecycle_lease_seconds=_parse_lease_seconds(
                env.get("LIFECYCLE_LEASE_SECONDS")
            ),
        )

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced, as command-line flags do."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def logging_level(self) -> int:
        """The `logging` module's number for `log_level`."""
        return logging.getLevelNamesMapping()[self.log_level]


def _parse_port(raw: str | None) -> int:
    if not raw:
        return 8000
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(
            f"PORT={raw!r} is invalid: expected a whole number from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise SettingsError(f"PORT={raw!r} is invalid: expected 1 to 65535")
    return port


def _parse_log_level(raw: str | None) -> str:
    if not raw:
        return "INFO"
    level = raw.strip().upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(
            f"LOG_LEVEL={raw!r} is invalid: expected one of {', '.join(_LOG_LEVELS)}"
        )
    return level


def _parse_concurrency(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIFECYCLE_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise SettingsError(
            f"LIFECYCLE_CONCURRENCY={raw!r} is invalid: expected a whole number "
            "from 1 to 1000"
        )
    return value


def _parse_lease_seconds(raw: str | None) -> float:
    if not raw:
        return DEFAULT_LIFECYCLE_LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0.5 <= value <= 3600:
        raise SettingsError(
            f"LIFECYCLE_LEASE_SECONDS={raw!r} is invalid: expected a number of "
            "seconds from 0.5 to 3600"
        )
    return value
