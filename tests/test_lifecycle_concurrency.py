"""Concurrent lifecycle runs: one token request, two processes, stale runs.

The token endpoint responds slowly, so that the calls overlap. Every check
counts the vendor's token requests, because a rotated refresh token sent
twice is rejected with ``invalid_grant`` and would lock the customer out.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db import models
from tests.cli_support import RunningServer, cli_environment, serve
from tests.conftest import GraphQLClient, LiveServer, Seeder
from tests.database_backend import Databases, fetch_all
from tests.upstream.accounts import (
    CREATE,
    REAUTHORIZE,
    REVALIDATE,
    Installed,
    api_key_config,
    event_types,
    install,
    oauth_config,
    run_mutation,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

# Lease length of the subprocess servers, in seconds: short, so that a stale
# lease expires within the test.
LEASE_SECONDS = "1"
TOKEN_DELAY = 0.5
POLL_TIMEOUT = 20.0


def oauth_account(
    seeder: Seeder, vendor: Vendor
) -> tuple[Installed, models.IntegratedAccount]:
    installed = install(seeder, oauth_config(vendor))
    access, refresh = vendor.oauth.grant()
    account = seeder.account(
        installed.install,
        status="active",
        authentication_method="oauth2",
        context={
            "oauth": {"token": {"access_token": access, "refresh_token": refresh}}
        },
    )
    return installed, account


def at_once(*calls: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """Start every call in its own thread at the same moment; return the results."""
    barrier = threading.Barrier(len(calls))

    def start(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(start, calls))


def reauthorize_call(
    url: str, token: str, account_id: Any
) -> Callable[[], dict[str, Any]]:
    def call() -> dict[str, Any]:
        client = GraphQLClient(url)
        try:
            return run_mutation(client, REAUTHORIZE, token, id=str(account_id))
        finally:
            client.close()

    return call


def assert_one_refresh(
    payloads: list[dict[str, Any]],
    vendor: Vendor,
    seeder: Seeder,
    account: models.IntegratedAccount,
) -> None:
    accounts = [payload["integratedAccount"] for payload in payloads]
    stored = seeder.get(models.IntegratedAccount, account.id)
    assert len(vendor.hits("/oauth/token")) == 1
    assert [payload["userErrors"] for payload in payloads] == [[], []]
    assert {result["status"] for result in accounts} == {"ACTIVE"}
    assert len({result["lastRefreshedAt"] for result in accounts}) == 1
    assert stored is not None
    assert stored.context["oauth"]["token"]["refresh_token"] in (
        vendor.oauth.valid_refresh_tokens
    )


def test_concurrent_reauthorize_refreshes_once(
    live_server: LiveServer, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)
    upstream.oauth.delay = TOKEN_DELAY

    payloads = at_once(
        reauthorize_call(live_server.url, installed.token, account.id),
        reauthorize_call(live_server.url, installed.token, account.id),
    )

    assert_one_refresh(payloads, upstream, seeder, account)


def test_revalidate_during_reauthorize_joins_it(
    live_server: LiveServer, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account = oauth_account(seeder, upstream)
    upstream.oauth.delay = TOKEN_DELAY

    def revalidate() -> dict[str, Any]:
        time.sleep(TOKEN_DELAY / 5)
        client = GraphQLClient(live_server.url)
        try:
            return run_mutation(client, REVALIDATE, installed.token, id=str(account.id))
        finally:
            client.close()

    reauthorized, revalidated = at_once(
        reauthorize_call(live_server.url, installed.token, account.id), revalidate
    )

    assert len(upstream.hits("/api/me")) == 1
    assert (
        revalidated["integratedAccount"]["lastRefreshedAt"]
        == (reauthorized["integratedAccount"]["lastRefreshedAt"])
    )


# -- two server processes on one database ---------------------------------------


@pytest.fixture(scope="module")
def two_servers(
    database_backend: Databases,
) -> Iterator[tuple[RunningServer, RunningServer, Seeder]]:
    database_url = database_backend.new()
    environment = cli_environment(database_url, LIFECYCLE_LEASE_SECONDS=LEASE_SECONDS)
    with (
        serve(environment=environment) as first,
        serve("--no-migrate", environment=environment) as second,
    ):
        seeder = Seeder(database_url)
        try:
            yield first, second, seeder
        finally:
            seeder.close()


def test_two_processes_refresh_once(
    two_servers: tuple[RunningServer, RunningServer, Seeder], upstream: Vendor
) -> None:
    first, second, seeder = two_servers
    installed, account = oauth_account(seeder, upstream)
    upstream.oauth.delay = TOKEN_DELAY

    payloads = at_once(
        reauthorize_call(first.base_url, installed.token, account.id),
        reauthorize_call(second.base_url, installed.token, account.id),
    )

    assert_one_refresh(payloads, upstream, seeder, account)


def test_lease_held_too_long_is_busy(
    two_servers: tuple[RunningServer, RunningServer, Seeder], upstream: Vendor
) -> None:
    first, _, seeder = two_servers
    installed, account = oauth_account(seeder, upstream)
    account.lease_id = "e" * 32
    account.lease_operation = "reauthorize"
    account.lease_expires_at = datetime.now(UTC) + timedelta(minutes=10)
    seeder.add(account)
    client = GraphQLClient(first.base_url)

    try:
        payload = run_mutation(client, REVALIDATE, installed.token, id=str(account.id))
    finally:
        client.close()

    [error] = payload["userErrors"]
    assert error["code"] == "ACCOUNT_BUSY"
    assert "retry later" in error["message"]
    assert upstream.requests == []


# -- a server killed in the middle of a connect run ----------------------------


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def account_ids(database_url: str, installed: Installed) -> list[uuid.UUID]:
    """Read the ids of the install's accounts straight from the database."""
    rows = fetch_all(
        database_url,
        select(models.IntegratedAccount.id).where(
            models.IntegratedAccount.environment_integration_id == installed.install.id
        ),
    )
    return [row[0] for row in rows]


def test_killed_connect_run_is_recovered(database_url: str, upstream: Vendor) -> None:
    environment = cli_environment(database_url, LIFECYCLE_LEASE_SECONDS=LEASE_SECONDS)
    upstream.api_keys[API_KEY] = {"read"}
    # The validation response comes after the kill, but early enough that the
    # test server has no request pending when the session stops it.
    upstream.script("/api/me", Reply(200, json={"id": "me"}, delay=3))
    with serve(environment=environment) as doomed:
        seeder = Seeder(database_url)
        installed = install(seeder, api_key_config(upstream))
        client = GraphQLClient(doomed.base_url)
        variables = {
            "input": {
                "environmentIntegrationId": str(installed.install.id),
                "tenantId": "acme",
                "context": {"api_key": API_KEY},
            }
        }
        hanging = threading.Thread(
            target=lambda: _ignore_errors(
                lambda: client.post(CREATE, variables, token=installed.token)
            ),
            daemon=True,
        )
        hanging.start()
        wait_for(lambda: len(upstream.hits("/api/me")) == 1, "the validation request")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=10)
        hanging.join(timeout=10)
        client.close()
    [account_id] = account_ids(database_url, installed)
    stuck = seeder.get(models.IntegratedAccount, account_id)
    assert stuck is not None
    assert stuck.status == "connecting"
    upstream.script("/api/me", Reply(200, json={"id": "me"}))

    with serve("--no-migrate", environment=environment) as revived:
        wait_for(
            lambda: _stored(seeder, stuck).status == "post_install_error",
            "recovery of the stale connect run",
        )
        recovered = _stored(seeder, stuck)
        client = GraphQLClient(revived.base_url)
        names = event_types(client, str(recovered.id), installed.token)
        payload = run_mutation(
            client, REVALIDATE, installed.token, id=str(recovered.id)
        )
        client.close()
    seeder.close()

    assert recovered.lease_id is None
    assert recovered.last_error is not None
    assert "server stopped" in recovered.last_error
    assert names == [
        "integrated_account:created",
        "integrated_account:post_install_error",
    ]
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert payload["integratedAccount"]["context"] == {"org_id": "org_123"}


def test_stale_lease_of_active_account_is_released(
    two_servers: tuple[RunningServer, RunningServer, Seeder], upstream: Vendor
) -> None:
    first, _, seeder = two_servers
    installed, account = oauth_account(seeder, upstream)
    account.lease_id = "d" * 32
    account.lease_operation = "reauthorize"
    account.lease_expires_at = datetime.now(UTC) - timedelta(minutes=1)
    seeder.add(account)

    wait_for(
        lambda: _stored(seeder, account).lease_id is None, "release of the stale lease"
    )

    client = GraphQLClient(first.base_url)
    try:
        names = event_types(client, str(account.id), installed.token)
    finally:
        client.close()
    assert _stored(seeder, account).status == "active"
    assert names == []


def _stored(
    seeder: Seeder, account: models.IntegratedAccount
) -> models.IntegratedAccount:
    row = seeder.get(models.IntegratedAccount, account.id)
    assert row is not None
    return row


def _ignore_errors(call: Callable[[], object]) -> None:
    # The server is killed in the middle of this request on purpose.
    try:
        call()
    except httpx.TransportError:
        return
