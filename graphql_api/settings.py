"""Settings read once from the environment at start-up."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from graphql_api.security.settings import SecuritySettings
from graphql_api.security.settings import parse_flag as _parse_flag

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./graphql_api.db"
# Upstream requests that bulk revalidation sends at once per integration. Vendors'
# concurrency limits vary, so this is a moderate guess to tune per deployment.
DEFAULT_LIFECYCLE_CONCURRENCY = 16
DEFAULT_LIFECYCLE_LEASE_SECONDS = 30.0
DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
DEFAULT_SUBSCRIPTION_PING_SECONDS = 15.0
DEFAULT_SUBSCRIPTION_INIT_TIMEOUT_SECONDS = 10.0
DEFAULT_EVENT_POLL_SECONDS = 0.5
# SQLAlchemy's own pool defaults. Each server process (and each uvicorn worker)
# keeps its own pool, so a deployment opens at most processes x (size +
# overflow) connections, which must stay below the server's max_connections.
DEFAULT_DATABASE_POOL_SIZE = 5
DEFAULT_DATABASE_MAX_OVERFLOW = 10
DEFAULT_DATABASE_POOL_TIMEOUT = 30.0
# Below the 30 s that Kubernetes waits by default before it kills a pod. Docker
# waits only 10 s by default, so compose.yaml raises its stop grace period.
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 20.0
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Raised when an environment variable contains a value the server cannot use."""


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
    # Maximum operations that one WebSocket connection runs at once.
    max_subscriptions_per_connection: int = DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION
    # Seconds between the server's pings on an idle WebSocket connection. A
    # connection that has not answered with a pong by the next ping is closed.
    subscription_ping_seconds: float = DEFAULT_SUBSCRIPTION_PING_SECONDS
    # Seconds that a new WebSocket connection has to send `connection_init`.
    subscription_init_timeout_seconds: float = DEFAULT_SUBSCRIPTION_INIT_TIMEOUT_SECONDS
    # Seconds between two reads of new events for subscriptions on SQLite. On
    # PostgreSQL, where NOTIFY wakes the reader, the interval at which it checks
    # its LISTEN connection.
    event_poll_seconds: float = DEFAULT_EVENT_POLL_SECONDS
    # Connections that the pool keeps open to the database.
    database_pool_size: int = DEFAULT_DATABASE_POOL_SIZE
    # Connections opened beyond `database_pool_size` under load, closed when
    # they are returned.
    database_max_overflow: int = DEFAULT_DATABASE_MAX_OVERFLOW
    # Seconds that a request waits for a free connection before it fails.
    database_pool_timeout: float = DEFAULT_DATABASE_POOL_TIMEOUT
    # Seconds after which a connection is replaced when next checked out, for
    # proxies and firewalls that drop idle connections. None keeps connections
    # until they fail the check that precedes each checkout.
    database_pool_recycle: float | None = None
    # Seconds that a stopping server waits for requests in progress to finish
    # before it closes their connections.
    shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    # Origins that browsers may call the API from (CORS), such as
    # "https://app.acme.test", or "*" for any origin. Empty: same origin only.
    cors_allow_origins: tuple[str, ...] = ()
    # Whether plain list reads run as one compiled SQL statement (see
    # `graphql_api.compiled`) instead of through the GraphQL executor.
    compiled_reads: bool = True
    # Request and query limits, rate limits and schema exposure.
    security: SecuritySettings = field(default_factory=SecuritySettings)

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
            max_subscriptions_per_connection=_parse_int_in_range(
                "SUBSCRIPTION_MAX_PER_CONNECTION",
                env.get("SUBSCRIPTION_MAX_PER_CONNECTION"),
                DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
                1,
                1000,
            ),
            subscription_ping_seconds=_parse_seconds(
                "SUBSCRIPTION_PING_SECONDS",
                env.get("SUBSCRIPTION_PING_SECONDS"),
                DEFAULT_SUBSCRIPTION_PING_SECONDS,
                0.1,
                3600,
            ),
            subscription_init_timeout_seconds=_parse_seconds(
                "SUBSCRIPTION_INIT_TIMEOUT_SECONDS",
                env.get("SUBSCRIPTION_INIT_TIMEOUT_SECONDS"),
                DEFAULT_SUBSCRIPTION_INIT_TIMEOUT_SECONDS,
                0.1,
                600,
            ),
            event_poll_seconds=_parse_seconds(
                "EVENT_POLL_SECONDS",
                env.get("EVENT_POLL_SECONDS"),
                DEFAULT_EVENT_POLL_SECONDS,
                0.01,
                60,
            ),
            database_pool_size=_parse_int_in_range(
                "DATABASE_POOL_SIZE",
                env.get("DATABASE_POOL_SIZE"),
                DEFAULT_DATABASE_POOL_SIZE,
                1,
                1000,
            ),
            database_max_overflow=_parse_int_in_range(
                "DATABASE_MAX_OVERFLOW",
                env.get("DATABASE_MAX_OVERFLOW"),
                DEFAULT_DATABASE_MAX_OVERFLOW,
                0,
                1000,
            ),
            database_pool_timeout=_parse_seconds(
                "DATABASE_POOL_TIMEOUT",
                env.get("DATABASE_POOL_TIMEOUT"),
                DEFAULT_DATABASE_POOL_TIMEOUT,
                0.1,
                3600,
            ),
            database_pool_recycle=_parse_optional_seconds(
                "DATABASE_POOL_RECYCLE", env.get("DATABASE_POOL_RECYCLE"), 1, 86400
            ),
            shutdown_timeout_seconds=_parse_seconds(
                "SHUTDOWN_TIMEOUT_SECONDS",
                env.get("SHUTDOWN_TIMEOUT_SECONDS"),
                DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
                0,
                3600,
            ),
            cors_allow_origins=_parse_origins(env.get("CORS_ALLOW_ORIGINS")),
            compiled_reads=_parse_flag(env, "COMPILED_READS", True),
            security=SecuritySettings.from_env(env),
        )

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced, as command-line flags do."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def logging_level(self) -> int:
        """The `logging` module's number for `log_level`."""
        return logging.getLevelNamesMapping()[self.log_level]

    def database_pool_options(self) -> dict[str, Any]:
        """Return the pool settings as keyword arguments of `db.session.Database`."""
        return {
            "pool_size": self.database_pool_size,
            "max_overflow": self.database_max_overflow,
            "pool_timeout": self.database_pool_timeout,
            # SQLAlchemy's value for "never recycle" is -1.
            "pool_recycle": -1
            if self.database_pool_recycle is None
            else self.database_pool_recycle,
        }


_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


def _parse_origins(raw: str | None) -> tuple[str, ...]:
    origins = tuple(part.strip() for part in (raw or "").split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise SettingsError(
                f"CORS_ALLOW_ORIGINS contains {origin!r}, which is not an origin: "
                "expected comma-separated values such as 'https://app.acme.test' "
                "(scheme, host and optional port, no path) or '*'"
            )
    return origins


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


def _parse_int_in_range(
    name: str, raw: str | None, default: int, low: int, high: int
) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingsError(
            f"{name}={raw!r} is invalid: expected a whole number from {low} to {high}"
        )
    return value


def _parse_seconds(
    name: str, raw: str | None, default: float, low: float, high: float
) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingsError(
            f"{name}={raw!r} is invalid: expected a number of seconds from "
            f"{low:g} to {high:g}"
        )
    return value


def _parse_optional_seconds(
    name: str, raw: str | None, low: float, high: float
) -> float | None:
    if not raw:
        return None
    return _parse_seconds(name, raw, low, low, high)
