"""Lifecycle tests run again against PostgreSQL instead of SQLite.

This module overrides `live_server`, `seeder` and `client` with a server on
a throwaway PostgreSQL cluster on 127.0.0.1, and imports test functions from
the other lifecycle modules so that pytest runs them here once more. It
checks what differs between the databases: the conditional UPDATE that
claims a lease, guarded writes that release it, executemany batches and
JSONB contexts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli_support import postgres_server
from tests.conftest import GraphQLClient, LiveServer, Seeder, run_server
from tests.test_lifecycle_bulk import (
    test_counts_by_resulting_status,
    test_leased_accounts_are_skipped,
    test_post_install_reruns_where_due,
)
from tests.test_lifecycle_concurrency import (
    test_concurrent_reauthorize_refreshes_once,
    test_revalidate_during_reauthorize_joins_it,
)
from tests.test_lifecycle_create import (
    test_create_emits_created_then_active,
    test_create_runs_post_install_and_validation,
)
from tests.test_lifecycle_events import test_deleted_account_events_stay_readable
from tests.test_lifecycle_reauthorize import (
    test_reconnect_replaces_credentials_only,
    test_refresh_stores_rotated_refresh_token,
)

pytest_plugins = ["tests.upstream.plugin"]
pytestmark = pytest.mark.postgres

__all__ = [
    "test_concurrent_reauthorize_refreshes_once",
    "test_counts_by_resulting_status",
    "test_create_emits_created_then_active",
    "test_create_runs_post_install_and_validation",
    "test_deleted_account_events_stay_readable",
    "test_leased_accounts_are_skipped",
    "test_post_install_reruns_where_due",
    "test_reconnect_replaces_credentials_only",
    "test_refresh_stores_rotated_refresh_token",
    "test_revalidate_during_reauthorize_joins_it",
]


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """An API server on a new PostgreSQL cluster, for this module only."""
    try:
        cluster = postgres_server()
        url = cluster.__enter__().url
    except LookupError as error:
        pytest.skip(f"no PostgreSQL server can be started here: {error}")
    try:
        with run_server(url) as server:
            yield server
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture(scope="module")
def seeder(live_server: LiveServer) -> Iterator[Seeder]:
    writer = Seeder(live_server.database_url)
    yield writer
    writer.close()


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[GraphQLClient]:
    graphql = GraphQLClient(live_server.url)
    yield graphql
    graphql.close()
