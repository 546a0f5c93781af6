"""Database pool and shutdown settings, from the environment to the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from db.session import APPLICATION_NAME, Database
from graphql_api.settings import Settings, SettingsError
from tests.cli_support import cli_environment, run_cli
from tests.database_backend import PostgresDatabases


def test_pool_defaults_match_sqlalchemy() -> None:
    options = Settings.from_env({}).database_pool_options()

    assert options == {
        "pool_size": 5,
        "max_overflow": 10,
        "pool_timeout": 30.0,
        "pool_recycle": -1,
    }


def test_pool_settings_read_from_environment() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_POOL_SIZE": "12",
            "DATABASE_MAX_OVERFLOW": "0",
            "DATABASE_POOL_TIMEOUT": "2.5",
            "DATABASE_POOL_RECYCLE": "600",
            "SHUTDOWN_TIMEOUT_SECONDS": "0",
        }
    )

    assert settings.database_pool_options() == {
        "pool_size": 12,
        "max_overflow": 0,
        "pool_timeout": 2.5,
        "pool_recycle": 600.0,
    }
    assert settings.shutdown_timeout_seconds == 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param(
            "DATABASE_POOL_SIZE", "0", "expected a whole number from 1", id="size"
        ),
        pytest.param(
            "DATABASE_MAX_OVERFLOW",
            "many",
            "expected a whole number from 0",
            id="overflow",
        ),
        pytest.param(
            "DATABASE_POOL_TIMEOUT",
            "0",
            "expected a number of seconds from 0.1",
            id="timeout",
        ),
        pytest.param(
            "DATABASE_POOL_RECYCLE",
            "-1",
            "expected a number of seconds from 1",
            id="recycle",
        ),
        pytest.param(
            "SHUTDOWN_TIMEOUT_SECONDS",
            "nan",
            "expected a number of seconds from 0",
            id="shutdown",
        ),
    ],
)
def test_bad_pool_setting_is_rejected(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}='{value}' is invalid: {expected}"):
        Settings.from_env({name: value})


def test_bad_pool_setting_stops_command(database_url: str) -> None:
    environment = cli_environment(database_url, DATABASE_POOL_SIZE="none")

    result = run_cli("serve", environment=environment)

    assert result.returncode == 2
    assert "DATABASE_POOL_SIZE='none' is invalid" in result.stderr


async def test_full_pool_times_out(migrated_database_url: str) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_POOL_SIZE": "1",
            "DATABASE_MAX_OVERFLOW": "0",
            "DATABASE_POOL_TIMEOUT": "0.2",
        }
    )
    database = Database(migrated_database_url, **settings.database_pool_options())
    try:
        async with database.engine.connect() as held:
            await held.execute(text("SELECT 1"))

            with pytest.raises(PoolTimeoutError, match="size 1 overflow 0"):
                async with database.engine.connect() as second:
                    await second.execute(text("SELECT 1"))
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_connections_carry_application_name(
    postgres_databases: PostgresDatabases,
) -> None:
    database = Database(postgres_databases.new())
    try:
        async with database.read_session() as session:
            name = await session.scalar(
                text(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE pid = pg_backend_pid()"
                )
            )
    finally:
        await database.dispose()

    assert name == APPLICATION_NAME
