"""Shared fixtures: a live API server on 127.0.0.1 and helpers to seed it.

One uvicorn server runs per test session, in a thread of the test process,
on a new migrated database of the selected backend: a SQLite file by default,
or a PostgreSQL database with ``--database=postgres`` (see
`tests.database_backend`). Tests isolate their data by creating their own
teams, because every token reads only its own team's rows.
Running in-process lets a test count the SQL statements that the server
sends (see `StatementLog`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import event
from sqlmodel import SQLModel

from db import models
from db.crypto import KeyRing, use_keyring
from db.migrate import upgrade
from db.session import Database
from db.types import utc_now
from graphql_api.app import create_app
from graphql_api.settings import Settings
from graphql_api.tokens import generate_token, hash_token
from tests.cli_support import TEST_SECRET_KEY

if TYPE_CHECKING:
    from tests.database_backend import Databases

pytest_plugins = ["tests.database_backend"]

SERVER_START_TIMEOUT = 10.0

RowT = TypeVar("RowT", bound=SQLModel)
T = TypeVar("T")


class StatementLog:
    """Records the SQL statements that the server's engine executes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statements: list[str] = []
        self._recording = False

    def on_execute(self, *args: Any) -> None:
        self.on_statement(args[2], args[3])

    def on_statement(self, statement: str, _parameters: Any = None) -> None:
        with self._lock:
            if self._recording:
                self._statements.append(statement)

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Collect the statements executed inside the block into a list."""
        captured: list[str] = []
        with self._lock:
            self._statements = captured
            self._recording = True
        try:
            yield captured
        finally:
            with self._lock:
                self._recording = False


@dataclass
class LiveServer:
    """A running API server and the database behind it."""

    url: str
    database_url: str
    statements: StatementLog


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def run_server(
    database_url: str,
    settings: Settings | None = None,
    database: Database | None = None,
) -> Iterator[LiveServer]:
    """Migrate a database, serve the API on it, and stop on exit.

    `settings` default to the tests' secret key and the default limits.
    `database`, when given, is the server's engine on `database_url`, such as
    one with test hooks on its pool.
    """
    upgrade(database_url)
    database = database or Database(database_url)
    statements = StatementLog()
    event.listen(
        database.engine.sync_engine, "before_cursor_execute", statements.on_execute
    )
    database.statement_observers.append(statements.on_statement)

    settings = settings or Settings(
        database_url=database_url, secret_key=TEST_SECRET_KEY
    )
    app = create_app(settings, database)
    sock = _free_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    _wait_until_started(server, thread)

    port = sock.getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", database_url, statements)
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT)
        sock.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)


@pytest.fixture(scope="session", autouse=True)
def test_keyring() -> Iterator[None]:
    """Install the tests' secret key, which every server and command here uses.

    Tests read rows that servers and commands wrote with encrypted secrets.
    """
    use_keyring(KeyRing.from_setting(TEST_SECRET_KEY))
    yield
    use_keyring(None)


@pytest.fixture(scope="session")
def live_server(database_backend: Databases) -> Iterator[LiveServer]:
    """The session's API server on a new database of the selected backend."""
    with run_server(database_backend.new_migrated()) as server:
        yield server


class Seeder:
    """Writes rows straight into the server's database.

    The database is async-only (aiosqlite, asyncpg), so the seeder runs its
    own event loop in a thread and blocks until each write commits. Every
    method returns the row, detached but loaded.
    """

    def __init__(self, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._database = Database(database_url)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        """Dispose of the connections and stop the seeder's loop."""
        self._run(self._database.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def add(self, *rows: SQLModel) -> None:
        """Insert or update rows in one transaction."""
        self._run(self._add(rows))

    async def _add(self, rows: tuple[SQLModel, ...]) -> None:
        async with self._database.write_session() as session:
            session.add_all(rows)

    def get(self, model: type[RowT], row_id: Any) -> RowT | None:
        """Read a row back from the database, or None when it is gone."""
        return self._run(self._get(model, row_id))

    async def _get(self, model: type[RowT], row_id: Any) -> RowT | None:
        async with self._database.read_session() as session:
            return await session.get(model, row_id)

    def team(self, name: str | None = None) -> models.Team:
        row = models.Team(name=name or f"team-{uuid.uuid4().hex[:12]}")
        self.add(row)
        return row

    def environment(
        self, team: models.Team, name: str = "production"
    ) -> models.Environment:
        row = models.Environment(team_id=team.id, name=name)
        self.add(row)
        return row

    def token(
        self,
        team: models.Team,
        environment: models.Environment | None = None,
        *,
        expires_at: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> str:
        """Create an API token and return its plain text."""
        token = generate_token()
        row = models.ApiToken(
            team_id=team.id,
            environment_id=environment.id if environment else None,
            token_hash=hash_token(token),
            expires_at=expires_at,
            revoked_at=revoked_at,
        )
        self.add(row)
        return token

    def integration(
        self, team: models.Team, name: str | None = None, **fields: Any
    ) -> models.Integration:
        fields.setdefault("category", "crm")
        fields.setdefault("config", {"base_url": "http://127.0.0.1:9/api"})
        row = models.Integration(
            team_id=team.id, name=name or f"app-{uuid.uuid4().hex[:8]}", **fields
        )
        self.add(row)
        return row

    def install(
        self,
        environment: models.Environment,
        integration: models.Integration,
        **fields: Any,
    ) -> models.EnvironmentIntegration:
        row = models.EnvironmentIntegration(
            environment_id=environment.id, integration_id=integration.id, **fields
        )
        self.add(row)
        return row

    def account(
        self, install: models.EnvironmentIntegration, **fields: Any
    ) -> models.IntegratedAccount:
        row = self.account_row(install, **fields)
        self.add(row)
        return row

    def account_row(
        self, install: models.EnvironmentIntegration, **fields: Any
    ) -> models.IntegratedAccount:
        """Build an account row without writing it, for `add` in bulk."""
        fields.setdefault("tenant_id", f"tenant-{uuid.uuid4().hex[:8]}")
        return models.IntegratedAccount(
            environment_id=install.environment_id,
            environment_integration_id=install.id,
            integration_id=install.integration_id,
            **fields,
        )


@pytest.fixture(scope="session")
def seeder(live_server: LiveServer) -> Iterator[Seeder]:
    """Writes rows into the session server's database."""
    writer = Seeder(live_server.database_url)
    yield writer
    writer.close()


class GraphQLClient:
    """Posts GraphQL documents to the live server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30, trust_env=False)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None,
    ) -> httpx.Response:
        """Send a document and return the raw HTTP response."""
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.http.post("/graphql", json=body, headers=headers)

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> dict[str, Any]:
        """Send a document and return the JSON body of a 200 response."""
        response = self.post(query, variables, token=token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> dict[str, Any]:
        """Send a document and return its data, failing on any error."""
        body = self.execute(query, variables, token=token)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def errors(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> list[dict[str, Any]]:
        """Send a document that must fail and return its errors."""
        body = self.execute(query, variables, token=token)
        assert body.get("errors"), body
        errors: list[dict[str, Any]] = body["errors"]
        return errors

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def client(live_server: LiveServer) -> Iterator[GraphQLClient]:
    """A GraphQL client of the session server."""
    graphql = GraphQLClient(live_server.url)
    yield graphql
    graphql.close()


@dataclass
class Tenant:
    """A team with two environments and the tokens that act for it."""

    team: models.Team
    production: models.Environment
    staging: models.Environment
    team_token: str
    production_token: str
    extra: dict[str, Any] = field(default_factory=dict)


def make_tenant(seeder: Seeder) -> Tenant:
    """Create a team with a production and a staging environment and tokens."""
    team = seeder.team()
    production = seeder.environment(team, "production")
    staging = seeder.environment(team, "staging")
    return Tenant(
        team=team,
        production=production,
        staging=staging,
        team_token=seeder.token(team),
        production_token=seeder.token(team, production),
    )


def hours_ago(hours: float) -> datetime:
    """Return the aware UTC time `hours` before now."""
    return utc_now() - timedelta(hours=hours)
