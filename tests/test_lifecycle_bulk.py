"""revalidateIntegratedAccounts: counts, filters, leases, concurrency, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db import models
from tests.cli_support import cli_environment, serve
from tests.conftest import GraphQLClient, Seeder
from tests.database_backend import Databases
from tests.upstream.accounts import (
    REVALIDATE_MANY,
    Installed,
    api_key_config,
    event_types,
    install,
    run_mutation,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

DEAD_KEY = "key-dead"
CAP = 2


def seed_accounts(
    seeder: Seeder,
    installed: Installed,
    context: dict[str, Any],
    count: int,
    **fields: Any,
) -> list[models.IntegratedAccount]:
    fields.setdefault("status", "active")
    rows = [
        seeder.account_row(
            installed.install,
            authentication_method="api_key",
            context=dict(context),
            **fields,
        )
        for _ in range(count)
    ]
    seeder.add(*rows)
    return rows


def revalidate_many(
    client: GraphQLClient, token: str, account_filter: Any = None
) -> dict[str, Any]:
    return run_mutation(client, REVALIDATE_MANY, token, filter=account_filter)


def counts(items: list[dict[str, Any]], key: str) -> dict[str, int]:
    return {item[key]: item["count"] for item in items}


def test_counts_by_resulting_status(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.api_keys[API_KEY] = {"read"}
    installed = install(seeder, api_key_config(upstream))
    good = seed_accounts(
        seeder, installed, {"api_key": API_KEY}, 3, status="validation_error"
    )
    dead = seed_accounts(seeder, installed, {"api_key": DEAD_KEY}, 2, status="active")

    payload = revalidate_many(client, installed.token)

    assert payload["userErrors"] == []
    assert payload["matchedCount"] == 5
    assert payload["revalidatedCount"] == 5
    assert payload["skippedCount"] == 0
    assert counts(payload["statusCounts"], "status") == {
        "ACTIVE": 3,
        "NEEDS_REAUTH": 2,
    }
    assert counts(payload["errorCounts"], "code") == {"INVALID_CREDENTIALS": 2}
    assert event_types(client, str(good[0].id), installed.token) == [
        "integrated_account:active"
    ]
    assert event_types(client, str(dead[0].id), installed.token) == [
        "integrated_account:authentication_error"
    ]


def test_results_are_stored(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))
    [account] = seed_accounts(seeder, installed, {"api_key": DEAD_KEY}, 1)

    revalidate_many(client, installed.token)

    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    assert row.status == "needs_reauth"
    assert row.last_error is not None
    assert row.last_action_result is not None
    assert row.last_action_result["operation"] == "bulk_revalidate"
    assert row.lease_id is None


def test_unchanged_accounts_emit_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.api_keys[API_KEY] = {"read"}
    installed = install(seeder, api_key_config(upstream))
    [account] = seed_accounts(seeder, installed, {"api_key": API_KEY}, 1)

    payload = revalidate_many(client, installed.token)

    assert counts(payload["statusCounts"], "status") == {"ACTIVE": 1}
    assert event_types(client, str(account.id), installed.token) == []


def test_post_install_reruns_where_due(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.api_keys[API_KEY] = {"read"}
    installed = install(seeder, api_key_config(upstream))
    [account] = seed_accounts(
        seeder,
        installed,
        {"api_key": API_KEY, "region": "eu"},
        1,
        status="post_install_error",
    )

    revalidate_many(client, installed.token)

    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    assert row.status == "active"
    assert row.context == {"api_key": API_KEY, "region": "eu", "org_id": "org_123"}


def test_filter_limits_the_accounts(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    upstream.api_keys[API_KEY] = {"read"}
    installed = install(seeder, api_key_config(upstream))
    seed_accounts(seeder, installed, {"api_key": API_KEY}, 2, status="active")
    seed_accounts(seeder, installed, {"api_key": API_KEY}, 3, status="needs_reauth")

    payload = revalidate_many(
        client, installed.token, {"status": {"eq": "NEEDS_REAUTH"}}
    )

    assert payload["matchedCount"] == 3
    assert counts(payload["statusCounts"], "status") == {"ACTIVE": 3}
    assert len(upstream.hits("/api/me")) == 3


def test_other_teams_accounts_are_untouched(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    mine = install(seeder, api_key_config(upstream))
    theirs = install(seeder, api_key_config(upstream))
    seed_accounts(seeder, mine, {"api_key": DEAD_KEY}, 1)
    [foreign] = seed_accounts(seeder, theirs, {"api_key": DEAD_KEY}, 1)

    payload = revalidate_many(client, mine.token)

    row = seeder.get(models.IntegratedAccount, foreign.id)
    assert payload["matchedCount"] == 1
    assert row is not None
    assert row.status == "active"


def test_leased_accounts_are_skipped(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))
    held_until = datetime.now(UTC) + timedelta(minutes=5)
    [held] = seed_accounts(
        seeder,
        installed,
        {"api_key": DEAD_KEY},
        1,
        lease_id="f" * 32,
        lease_operation="reauthorize",
        lease_expires_at=held_until,
    )
    seed_accounts(seeder, installed, {"api_key": DEAD_KEY}, 1)

    payload = revalidate_many(client, installed.token)

    row = seeder.get(models.IntegratedAccount, held.id)
    assert payload["skippedCount"] == 1
    assert payload["revalidatedCount"] == 1
    assert row is not None
    assert row.status == "active"
    assert row.lease_id == "f" * 32


def test_config_that_cannot_run_releases_lease(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream, credentials="not an object"))
    [account] = seed_accounts(
        seeder, installed, {"api_key": API_KEY}, 1, status="validation_error"
    )

    payload = revalidate_many(client, installed.token)

    row = seeder.get(models.IntegratedAccount, account.id)
    assert payload["matchedCount"] == 1
    assert payload["revalidatedCount"] == 0
    assert counts(payload["errorCounts"], "code") == {"INVALID_CONFIG": 1}
    assert upstream.hits("/api/me") == []
    assert row is not None
    assert row.status == "validation_error"
    assert row.lease_id is None
    assert row.lease_expires_at is None


def test_invalid_filter_is_a_user_error(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed = install(seeder, api_key_config(upstream))

    payload = revalidate_many(client, installed.token, {"id": {"eq": "nope"}})

    [error] = payload["userErrors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == ["input", "filter"]
    assert payload["matchedCount"] == 0


# -- a server whose cap is CAP upstream requests per integration --------------


@pytest.fixture(scope="module")
def capped(
    database_backend: Databases,
) -> Iterator[tuple[Seeder, GraphQLClient]]:
    database_url = database_backend.new()
    environment = cli_environment(database_url, LIFECYCLE_CONCURRENCY=str(CAP))
    with serve(environment=environment) as server:
        seeder = Seeder(database_url)
        client = GraphQLClient(server.base_url)
        try:
            yield seeder, client
        finally:
            client.close()
            seeder.close()


def test_concurrency_cap_is_honoured(
    capped: tuple[Seeder, GraphQLClient], upstream: Vendor
) -> None:
    seeder, client = capped
    upstream.script("/api/me", Reply(200, json={"id": "me"}, delay=0.05))
    installed = install(seeder, api_key_config(upstream))
    seed_accounts(seeder, installed, {"api_key": API_KEY}, 10)

    payload = revalidate_many(client, installed.token)

    assert payload["revalidatedCount"] == 10
    assert upstream.max_in_flight == CAP


def test_rate_limit_pauses_the_integration(
    capped: tuple[Seeder, GraphQLClient], upstream: Vendor
) -> None:
    seeder, client = capped
    # The second request is already in flight when the first gets the 429.
    # Its slow reply gives the server half a second to pause the lane before
    # that worker takes its next account, even on a loaded machine.
    upstream.script(
        "/api/me",
        Reply(429, json={}, headers={"Retry-After": "1"}),
        Reply(200, json={"id": "me"}, delay=0.5),
        Reply(200, json={"id": "me"}, delay=0.05),
    )
    installed = install(seeder, api_key_config(upstream))
    seed_accounts(seeder, installed, {"api_key": API_KEY}, 6)

    payload = revalidate_many(client, installed.token)

    limited, *others = upstream.hits("/api/me")
    resumed = others[1:]
    assert counts(payload["statusCounts"], "status") == {"ACTIVE": 6}
    assert len(others) == 6
    assert all(hit.received_at >= limited.received_at + 1.0 for hit in resumed)
