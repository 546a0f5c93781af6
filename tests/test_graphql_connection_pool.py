"""Pooled connections held by one request with nested connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from db.session import Database
from tests.conftest import LiveServer, Seeder, run_server
from tests.database_backend import Databases

NESTED_ACCOUNTS = """
{
  integratedAccounts(first: 20) {
    nodes {
      environment {
        integratedAccounts(first: 20) {
          nodes { id environment { integratedAccounts(first: 5) { nodes { id } } } }
        }
      }
    }
  }
}
"""


class CheckoutCounter:
    """Tracks how many pooled connections are checked out at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.maximum = 0

    def on_checkout(self, *_args: Any) -> None:
        with self._lock:
            self.current += 1
            self.maximum = max(self.maximum, self.current)

    def on_checkin(self, *_args: Any) -> None:
        with self._lock:
            self.current -= 1

    def reset(self) -> None:
        with self._lock:
            self.maximum = self.current


@pytest.fixture(scope="module")
def counted_server(
    database_backend: Databases,
) -> Iterator[tuple[LiveServer, CheckoutCounter]]:
    url = database_backend.new_migrated()
    database = Database(url, pool_size=5, max_overflow=10)
    counter = CheckoutCounter()
    event.listen(database.engine.sync_engine, "checkout", counter.on_checkout)
    event.listen(database.engine.sync_engine, "checkin", counter.on_checkin)
    with run_server(url, database=database) as server:
        yield server, counter


def _seed_accounts(url: str, count: int) -> str:
    seeder = Seeder(url)
    try:
        team = seeder.team()
        environment = seeder.environment(team)
        install = seeder.install(environment, seeder.integration(team))
        seeder.add(*(seeder.account_row(install) for _ in range(count)))
        return seeder.token(team)
    finally:
        seeder.close()


def test_nested_connections_hold_one_connection(
    counted_server: tuple[LiveServer, CheckoutCounter],
) -> None:
    server, counter = counted_server
    token = _seed_accounts(server.database_url, 20)
    counter.reset()

    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": NESTED_ACCOUNTS},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
        trust_env=False,
    )

    body = response.json()
    assert "errors" not in body, body["errors"]
    outer = body["data"]["integratedAccounts"]["nodes"]
    assert len(outer) == 20
    inner = outer[0]["environment"]["integratedAccounts"]["nodes"]
    assert len(inner) == 20
    assert counter.maximum == 1
