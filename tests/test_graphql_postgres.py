"""The same API tests against PostgreSQL instead of SQLite.

This module overrides `live_server` with a server on a throwaway PostgreSQL
cluster on 127.0.0.1, and imports test functions and fixtures from other
modules so that pytest runs them here once more, on that server. It checks
what differs between the databases: case-sensitive LIKE with escaped
wildcards, row-value keyset comparisons on native UUIDs and timestamps,
and row locks for concurrent writers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli_support import postgres_server
from tests.conftest import GraphQLClient, LiveServer, Seeder, run_server
from tests.test_graphql_filters import (
    catalog,
    test_account_filter_matches_predicate,
    test_empty_or_matches_nothing,
    test_integration_filter,
    world,
)
from tests.test_graphql_isolation import (
    teams,
    test_nodes_mixes_own_and_foreign_ids,
    test_team_token_lists_own_accounts,
)
from tests.test_graphql_mutations_accounts import (
    account,
    tenant,
    test_replaced_object_keeps_credentials,
    test_update_merges_context_shallowly,
)
from tests.test_graphql_pagination import (
    paged,
    test_backward_walk_over_tied_rows,
    test_forward_walk_over_tied_rows,
    test_order_by_field_and_direction,
    test_order_by_two_fields_in_mixed_directions,
    test_walk_survives_inserts_between_pages,
)
from tests.test_http_concurrent_writes import (
    test_concurrent_context_merges_keep_every_key,
    test_concurrent_installs_create_one_install,
)

pytestmark = pytest.mark.postgres

__all__ = [
    "account",
    "catalog",
    "paged",
    "teams",
    "tenant",
    "test_account_filter_matches_predicate",
    "test_backward_walk_over_tied_rows",
    "test_concurrent_context_merges_keep_every_key",
    "test_concurrent_installs_create_one_install",
    "test_empty_or_matches_nothing",
    "test_forward_walk_over_tied_rows",
    "test_integration_filter",
    "test_nodes_mixes_own_and_foreign_ids",
    "test_order_by_field_and_direction",
    "test_order_by_two_fields_in_mixed_directions",
    "test_replaced_object_keeps_credentials",
    "test_team_token_lists_own_accounts",
    "test_update_merges_context_shallowly",
    "test_walk_survives_inserts_between_pages",
    "world",
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
