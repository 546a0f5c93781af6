"""Effective configs of lifecycle loads: one object per unchanged pair of configs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_engine.engine import Engine
from config_engine.errors import ConfigError
from config_engine.merge import effective_config
from db import models
from db.session import Database
from db.types import utc_now
from graphql_api.auth import Principal
from graphql_api.lifecycle.store import (
    Configs,
    EffectiveConfigCache,
    load_account,
    load_install,
)
from tests.conftest import Seeder, make_tenant

BASE_CONFIG: dict[str, Any] = {
    "base_url": "http://127.0.0.1:9/api",
    "headers": {"Accept": "application/json"},
    "resources": {"contacts": {"list": {"method": "get", "path": "/contacts"}}},
}


@pytest.fixture
async def database(migrated_database_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_database_url)
    yield database
    await database.dispose()


class Installed:
    """Two installs of one integration, in two environments, with one account each."""

    def __init__(self, seeder: Seeder) -> None:
        tenant = make_tenant(seeder)
        self.team_id = tenant.team.id
        self.integration = seeder.integration(tenant.team, config=BASE_CONFIG)
        self.production = seeder.install(
            tenant.production,
            self.integration,
            override={"environment_variables": {"stage": "prod"}},
        )
        self.staging = seeder.install(
            tenant.staging,
            self.integration,
            override={"environment_variables": {"stage": "staging"}},
        )
        self.production_account = seeder.account(self.production)
        self.staging_account = seeder.account(self.staging)


@pytest.fixture
def installed(migrated_database_url: str) -> Installed:
    seeder = Seeder(migrated_database_url)
    try:
        return Installed(seeder)
    finally:
        seeder.close()


async def _effective(database: Database, account_id: uuid.UUID) -> dict[str, Any]:
    loaded = await load_account(database, account_id, None)
    assert loaded is not None
    return loaded.configs.effective


async def _set_override(
    database: Database, install_id: uuid.UUID, override: dict[str, Any]
) -> None:
    async with database.write_session() as session:
        row = await session.get(models.EnvironmentIntegration, install_id)
        assert row is not None
        row.override = override
        row.updated_at = utc_now()


async def _set_integration_config(
    database: Database, integration_id: uuid.UUID, config: dict[str, Any]
) -> None:
    async with database.write_session() as session:
        row = await session.get(models.Integration, integration_id)
        assert row is not None
        row.config = config
        row.version += 1
        row.updated_at = utc_now()


async def test_account_loads_share_effective_config(
    database: Database, installed: Installed
) -> None:
    account_id = installed.production_account.id

    first = await _effective(database, account_id)
    second = await _effective(database, account_id)

    assert second is first
    assert first == effective_config(BASE_CONFIG, installed.production.override)


async def test_install_and_account_loads_share_config(
    database: Database, installed: Installed
) -> None:
    principal = Principal(token_id=uuid.uuid4(), team_id=installed.team_id)

    from_account = await _effective(database, installed.production_account.id)
    loaded_install = await load_install(database, principal, installed.production.id)

    assert loaded_install is not None
    assert loaded_install.configs.effective is from_account


async def test_override_change_gives_new_config(
    database: Database, installed: Installed
) -> None:
    account_id = installed.production_account.id
    before = await _effective(database, account_id)

    await _set_override(
        database, installed.production.id, {"environment_variables": {"stage": "v2"}}
    )
    after = await _effective(database, account_id)

    assert after is not before
    assert after["environment_variables"] == {"stage": "v2"}
    assert before["environment_variables"] == {"stage": "prod"}


async def test_integration_change_gives_new_config(
    database: Database, installed: Installed
) -> None:
    account_id = installed.production_account.id
    before = await _effective(database, account_id)
    changed = {**BASE_CONFIG, "base_url": "http://127.0.0.1:10/v2"}

    await _set_integration_config(database, installed.integration.id, changed)
    after = await _effective(database, account_id)

    assert after is not before
    assert after["base_url"] == "http://127.0.0.1:10/v2"
    assert before["base_url"] == BASE_CONFIG["base_url"]


async def test_installs_keep_their_own_overrides(
    database: Database, installed: Installed
) -> None:
    production = await _effective(database, installed.production_account.id)
    staging = await _effective(database, installed.staging_account.id)

    assert production is not staging
    assert production["environment_variables"] == {"stage": "prod"}
    assert staging["environment_variables"] == {"stage": "staging"}


async def test_engine_reuses_one_method_for_loads(
    database: Database, installed: Installed
) -> None:
    account_id = installed.production_account.id
    expected = effective_config(BASE_CONFIG, installed.production.override)
    async with httpx.AsyncClient() as client:
        engine = Engine(client)

        for _ in range(3):
            config = await _effective(database, account_id)
            engine.prepare_request(config, {}, "contacts", "list")

    # One entry per config object: every load returned the same one.
    assert len(engine._methods) == 1
    assert config == expected


def test_configs_without_key_merge_once() -> None:
    configs = Configs(BASE_CONFIG, {"environment_variables": {"stage": "prod"}})

    first = configs.effective

    assert configs.effective is first
    assert first["environment_variables"] == {"stage": "prod"}


def test_cache_merges_again_after_change() -> None:
    cache = EffectiveConfigCache()
    key = (uuid.uuid4(), uuid.uuid4())

    first = cache.get(key, dict(BASE_CONFIG), {"headers": {"X-Stage": "a"}})
    same = cache.get(key, dict(BASE_CONFIG), {"headers": {"X-Stage": "a"}})
    changed = cache.get(key, dict(BASE_CONFIG), {"headers": {"X-Stage": "b"}})

    assert same is first
    assert changed is not first
    assert changed["headers"]["X-Stage"] == "b"
    assert len(cache) == 1


def test_cache_distinguishes_number_from_boolean() -> None:
    cache = EffectiveConfigCache()
    key = (uuid.uuid4(), uuid.uuid4())

    first = cache.get(key, BASE_CONFIG, {"timeout": 1})
    changed = cache.get(key, BASE_CONFIG, {"timeout": True})

    assert changed is not first
    assert changed["timeout"] is True


def test_cache_skips_configs_without_json() -> None:
    cache = EffectiveConfigCache()
    key = (uuid.uuid4(), uuid.uuid4())
    override = {"environment_variables": {"since": object()}}

    first = cache.get(key, BASE_CONFIG, override)
    second = cache.get(key, BASE_CONFIG, override)

    assert second is not first
    assert second == first
    assert len(cache) == 0


def test_cache_drops_least_recently_used() -> None:
    cache = EffectiveConfigCache(max_entries=2)
    keys = [(uuid.uuid4(), uuid.uuid4()) for _ in range(3)]
    first = cache.get(keys[0], BASE_CONFIG, {})
    second = cache.get(keys[1], BASE_CONFIG, {})

    assert cache.get(keys[0], BASE_CONFIG, {}) is first
    cache.get(keys[2], BASE_CONFIG, {})

    assert len(cache) == 2
    assert cache.get(keys[0], BASE_CONFIG, {}) is first
    assert cache.get(keys[1], BASE_CONFIG, {}) is not second


def test_cache_keeps_no_invalid_config() -> None:
    cache = EffectiveConfigCache()
    key = (uuid.uuid4(), uuid.uuid4())

    with pytest.raises(ConfigError, match="expected the config to be an object"):
        cache.get(key, ["not", "an", "object"], {})  # type: ignore[arg-type]

    assert len(cache) == 0


def test_cache_rejects_empty_bound() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1, received 0"):
        EffectiveConfigCache(max_entries=0)
