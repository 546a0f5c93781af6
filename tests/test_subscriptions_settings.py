"""Subscription settings: parsing from the environment and their use."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.session import Database
from graphql_api.event_feed import feed_for
from graphql_api.http import GraphQLView
from graphql_api.settings import Settings, SettingsError


def test_settings_read_subscription_variables() -> None:
    settings = Settings.from_env(
        {
            "SUBSCRIPTION_MAX_PER_CONNECTION": "5",
            "SUBSCRIPTION_PING_SECONDS": "2.5",
            "SUBSCRIPTION_INIT_TIMEOUT_SECONDS": "3",
            "EVENT_POLL_SECONDS": "0.25",
        }
    )

    assert settings.max_subscriptions_per_connection == 5
    assert settings.subscription_ping_seconds == 2.5
    assert settings.subscription_init_timeout_seconds == 3.0
    assert settings.event_poll_seconds == 0.25


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "SUBSCRIPTION_MAX_PER_CONNECTION",
            "0",
            "expected a whole number from 1 to 1000",
            id="max-zero",
        ),
        pytest.param(
            "SUBSCRIPTION_MAX_PER_CONNECTION",
            "many",
            "expected a whole number from 1 to 1000",
            id="max-text",
        ),
        pytest.param(
            "SUBSCRIPTION_PING_SECONDS",
            "nan",
            "expected a number of seconds from 0.1 to 3600",
            id="ping-nan",
        ),
        pytest.param(
            "EVENT_POLL_SECONDS",
            "61",
            "expected a number of seconds from 0.01 to 60",
            id="poll-too-long",
        ),
    ],
)
def test_invalid_subscription_setting_is_rejected(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=f"{name}='{value}' is invalid: {message}"):
        Settings.from_env({name: value})


async def test_view_gives_event_feed_poll_interval(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    settings = Settings(database_url=database.url, event_poll_seconds=0.2)

    view = GraphQLView(database, settings)

    assert feed_for(view.database).poll_seconds == 0.2
    await database.dispose()
