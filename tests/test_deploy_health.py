"""/healthz and /readyz, as a load balancer or orchestrator probes them."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.migrate import head_revision, upgrade
from tests.cli_support import cli_environment, free_port, serve
from tests.conftest import LiveServer
from tests.database_backend import Databases, PostgresDatabases


def _get(base_url: str, path: str) -> httpx.Response:
    return httpx.get(f"{base_url}{path}", timeout=30, trust_env=False)


def test_healthz_needs_no_token(live_server: LiveServer) -> None:
    response = _get(live_server.url, "/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_readyz_reports_head_revision(live_server: LiveServer) -> None:
    response = _get(live_server.url, "/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": head_revision()}


def test_readyz_fails_before_migrations(database_backend: Databases) -> None:
    environment = cli_environment(database_backend.new())

    with serve("--no-migrate", environment=environment) as server:
        ready = _get(server.base_url, "/readyz")
        alive = _get(server.base_url, "/healthz")

    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "reason": "the database has no migrations applied: run graphql-api migrate",
    }
    assert alive.status_code == 200


def test_readyz_fails_on_older_revision(database_backend: Databases) -> None:
    url = database_backend.new()
    upgrade(url, "0002")

    with serve("--no-migrate", environment=cli_environment(url)) as server:
        response = _get(server.base_url, "/readyz")

    assert response.status_code == 503
    assert response.json()["reason"].startswith(
        "the database is at revision '0002', but this build expects "
        f"{head_revision()!r}"
    )


def test_readyz_fails_when_database_is_down() -> None:
    # Nothing listens on this port, so every connection is refused.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/absent"

    with serve("--no-migrate", environment=cli_environment(url)) as server:
        ready = _get(server.base_url, "/readyz")
        alive = _get(server.base_url, "/healthz")

    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert reason.startswith("the database is unreachable (")
    assert "127.0.0.1" not in reason
    assert alive.status_code == 200


@pytest.mark.postgres
def test_readyz_times_out_on_locked_database(
    postgres_databases: PostgresDatabases,
) -> None:
    url = postgres_databases.new_migrated()
    locked = threading.Event()
    release = threading.Event()

    async def hold_table_lock() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
                )
                locked.set()
                await asyncio.to_thread(release.wait, 60)
        finally:
            await engine.dispose()

    with serve("--no-migrate", environment=cli_environment(url)) as server:
        holder = threading.Thread(target=asyncio.run, args=(hold_table_lock(),))
        holder.start()
        try:
            assert locked.wait(30)
            blocked = _get(server.base_url, "/readyz")
        finally:
            release.set()
            holder.join(timeout=30)
        recovered = _get(server.base_url, "/readyz")

    assert blocked.status_code == 503
    assert blocked.json()["reason"] == "the database did not respond within 2.0 s"
    assert recovered.status_code == 200
