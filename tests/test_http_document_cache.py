"""The caches of parsed documents and passed validations.

The session's server runs in this process, so the tests read the counters
of the same caches that the server uses.
"""

from __future__ import annotations

import uuid

import pytest

from graphql_api.document_cache import LRUCache, documents, validations
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

ACCOUNTS_BY_PAGE = """
query ($n: Int) {
  integratedAccounts(first: $n) {
    nodes { events(first: $n) { nodes { id } } }
  }
}
"""


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


def _unique(query: str) -> str:
    """Return `query` with a comment that no other request has used."""
    return f"# {uuid.uuid4()}\n{query}"


def test_lru_cache_drops_least_recently_used() -> None:
    cache: LRUCache[int] = LRUCache(max_size=2)
    cache.put("a", 1)
    cache.put("b", 2)

    assert cache.get("a") == 1
    cache.put("c", 3)

    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert cache.info().size == 2


def test_repeated_query_is_parsed_once(client: GraphQLClient, tenant: Tenant) -> None:
    query = _unique("{ environments { totalCount } }")
    client.data(query, token=tenant.team_token)
    before = documents.info()

    client.data(query, token=tenant.team_token)

    after = documents.info()
    # Served from the cache (the view and the executor each look it up).
    assert after.hits > before.hits
    assert after.misses == before.misses
    assert after.size == before.size


def test_repeated_query_is_validated_once(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = _unique("{ environments { totalCount } }")
    client.data(query, token=tenant.team_token)
    before = validations.info()

    client.data(query, token=tenant.team_token)

    assert validations.info().hits == before.hits + 1


def test_invalid_query_is_not_cached_as_valid(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = _unique("{ noSuchField }")
    before = validations.info()

    first = client.errors(query, token=tenant.team_token)
    second = client.errors(query, token=tenant.team_token)

    assert first == second
    assert first[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert validations.info().size == before.size


def test_cached_query_still_checks_cost_per_request(
    client: GraphQLClient, tenant: Tenant
) -> None:
    query = _unique(ACCOUNTS_BY_PAGE)
    client.data(query, {"n": 2}, token=tenant.team_token)

    errors = client.errors(query, {"n": 100}, token=tenant.team_token)

    assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "10100 nodes, more than the maximum" in errors[0]["message"]


def test_cache_drops_oldest_entries_past_its_weight() -> None:
    cache: LRUCache[str] = LRUCache(max_size=10, max_weight=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"

    cache.put("c", "C", 40)

    assert cache.get("b") is None
    assert cache.get("a") == "A"
    assert cache.get("c") == "C"


def test_cache_skips_an_entry_heavier_than_its_weight() -> None:
    cache: LRUCache[str] = LRUCache(max_size=10, max_weight=100)
    cache.put("a", "A", 40)

    cache.put("huge", "H", 101)

    assert cache.get("huge") is None
    assert cache.get("a") == "A"


def test_replacing_an_entry_counts_its_new_weight_once() -> None:
    cache: LRUCache[str] = LRUCache(max_size=10, max_weight=100)
    cache.put("a", "A", 60)
    cache.put("a", "A2", 30)

    cache.put("b", "B", 70)

    assert cache.get("a") == "A2"
    assert cache.get("b") == "B"
