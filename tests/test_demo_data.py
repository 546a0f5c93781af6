"""The demo data: deterministic, idempotent, and valid for the config engine."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db.migrate import upgrade_async
from db.session import Database
from graphql_api.demo import (
    ACCOUNTS_PER_ENVIRONMENT,
    DEMO_SEED,
    DEMO_TEAM_NAME,
    build_demo_documents,
    demo_integrations,
    load_demo_data,
)
from graphql_api.importer import config_problems
from tests.database_backend import fetch_all

WELL_KNOWN = {"zendesk", "hubspot", "github", "salesforce"}


@pytest.fixture
async def database(database_url: str):
    await upgrade_async(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def _count(database: Database, table: str) -> int:
    [(count,)] = fetch_all(database.url, text(f"SELECT count(*) FROM {table}"))
    return int(count)


@pytest.mark.parametrize(
    "record", demo_integrations(), ids=lambda record: record["name"]
)
def test_demo_config_passes_validation(record: dict) -> None:
    assert config_problems(record["config"]) == []


def test_demo_covers_well_known_apis() -> None:
    names = {record["name"] for record in demo_integrations()}

    assert names >= WELL_KNOWN


def test_demo_documents_are_deterministic() -> None:
    assert build_demo_documents(DEMO_SEED) == build_demo_documents(DEMO_SEED)
    assert build_demo_documents(DEMO_SEED) != build_demo_documents(DEMO_SEED + 1)


def test_demo_accounts_vary_in_every_dimension() -> None:
    documents = build_demo_documents(DEMO_SEED)
    accounts = [
        account
        for document in documents.values()
        for account in document["integrated_accounts"]
    ]

    assert {a["status"] for a in accounts} == {
        "active",
        "connecting",
        "needs_reauth",
        "validation_error",
        "post_install_error",
    }
    assert {a["region"] for a in accounts} == {"wnam", "enam", "eu", "apac"}
    assert {a["is_sandbox"] for a in accounts} == {True, False}
    assert {a["authentication_method"] for a in accounts} == {"oauth2", "api_key"}
    assert len({a["tenant_id"] for a in accounts}) > 50


async def test_demo_loads_into_empty_database(database: Database) -> None:
    summary = await load_demo_data(database)

    assert summary is not None
    assert summary.team == DEMO_TEAM_NAME
    assert summary.accounts == sum(ACCOUNTS_PER_ENVIRONMENT.values())
    assert _count(database, "integrated_account") == summary.accounts
    assert _count(database, "environment") == 2
    assert _count(database, "integration") == len(demo_integrations())


async def test_demo_second_load_writes_nothing(database: Database) -> None:
    await load_demo_data(database)

    second = await load_demo_data(database)

    assert second is None
    assert _count(database, "integrated_account") == sum(
        ACCOUNTS_PER_ENVIRONMENT.values()
    )
    assert _count(database, "team") == 1
