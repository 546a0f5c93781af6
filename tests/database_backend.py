"""Pytest plugin: the database that the tests run on, SQLite or PostgreSQL.

Choose the backend with ``--database=sqlite`` or ``--database=postgres``, or
with the TEST_DATABASE environment variable; the default is sqlite.
TEST_DATABASE_URL may name a PostgreSQL server to use, as a
``postgresql+asyncpg://`` URL of a database that the role can connect to,
with the CREATEDB privilege. Without it, the postgres backend starts a
throwaway cluster (`tests.postgres_support`) when the run begins and stops
it when the run ends. Under pytest-xdist the controller starts the cluster
and every worker shares it.

Fixtures:

- `database_backend`: the session's `Databases`, which creates databases.
- `database_url`: a new empty database for one test.
- `migrated_database_url`: a new database at the migration head, copied
  from a template that is migrated once per process.
- `postgres_databases`: PostgreSQL databases whatever the backend, for tests
  of behaviour that only PostgreSQL has. Under the sqlite backend these
  tests start their own cluster on first use, and are skipped when no
  cluster can start.

SQLite databases are files in the test's temporary folders. Each PostgreSQL
database gets a random name, so that test processes sharing a server never
collide. Databases on a server given by TEST_DATABASE_URL are dropped when
the run ends. A throwaway cluster is simply deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import Executable, inspect, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import upgrade
from tests.postgres_support import (
    PostgresCluster,
    create_database,
    drop_database,
    new_database_name,
    run_blocking,
)

BACKENDS = ("sqlite", "postgres")
BACKEND_VARIABLE = "TEST_DATABASE"
SERVER_URL_VARIABLE = "TEST_DATABASE_URL"
# Key of the server URL that the xdist controller hands to its workers.
_WORKER_INPUT_KEY = "postgres_server_url"

_server_url_key = pytest.StashKey[str]()
_cluster_key = pytest.StashKey[PostgresCluster]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=BACKENDS,
        default=None,
        help=(
            "database backend of the tests: sqlite or postgres "
            f"(default: ${BACKEND_VARIABLE}, else sqlite)"
        ),
    )


def selected_backend(config: pytest.Config) -> str:
    """Return the backend chosen by ``--database`` or TEST_DATABASE."""
    backend = config.getoption("--database") or os.environ.get(BACKEND_VARIABLE)
    backend = backend or "sqlite"
    if backend not in BACKENDS:
        raise pytest.UsageError(
            f"{BACKEND_VARIABLE}={backend!r} is invalid: expected one of "
            f"{', '.join(BACKENDS)}"
        )
    return backend


def pytest_configure(config: pytest.Config) -> None:
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is not None:
        server_url = worker_input.get(_WORKER_INPUT_KEY)
        if server_url:
            config.stash[_server_url_key] = server_url
        return
    server_url = _configured_server_url()
    if server_url is None and selected_backend(config) == "postgres":
        cluster = _start_cluster()
        config.stash[_cluster_key] = cluster
        server_url = cluster.url
    if server_url is not None:
        config.stash[_server_url_key] = server_url


def _configured_server_url() -> str | None:
    server_url = os.environ.get(SERVER_URL_VARIABLE) or None
    if server_url is not None and make_url(server_url).drivername != (
        "postgresql+asyncpg"
    ):
        raise pytest.UsageError(
            f"{SERVER_URL_VARIABLE}={server_url!r} is invalid: expected a URL "
            "such as postgresql+asyncpg://user:password@127.0.0.1:5432/postgres"
        )
    return server_url


def _start_cluster() -> PostgresCluster:
    try:
        return PostgresCluster.start()
    except (LookupError, RuntimeError) as error:
        raise pytest.UsageError(
            f"the postgres backend needs a PostgreSQL server, and none could "
            f"start: {error}"
        ) from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand the server URL to an xdist worker (an xdist hook)."""
    server_url = node.config.stash.get(_server_url_key, None)
    if server_url is not None:
        node.workerinput[_WORKER_INPUT_KEY] = server_url


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = config.stash.get(_cluster_key, None)
    if cluster is not None:
        cluster.stop()


def pytest_report_header(config: pytest.Config) -> str:
    backend = selected_backend(config)
    if backend == "sqlite":
        return "database backend: sqlite"
    server_url = config.stash.get(_server_url_key, "")
    display_url = make_url(server_url).render_as_string(hide_password=True)
    return f"database backend: postgres at {display_url}"


class Databases(Protocol):
    """Creates fresh databases of one backend for tests."""

    name: str

    def new(self) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        ...

    def new_migrated(self) -> str:
        """Create a database at the migration head and return its URL."""
        ...


class SQLiteDatabases:
    """SQLite files, each in its own temporary folder."""

    name = "sqlite"

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._template: Path | None = None

    def new(self) -> str:
        return _sqlite_url(self._new_path())

    def new_migrated(self) -> str:
        if self._template is None:
            template = self._new_path()
            upgrade(_sqlite_url(template))
            self._template = template
        path = self._new_path()
        # The migration engine leaves the journal in its default mode, so
        # the template is one self-contained file.
        shutil.copyfile(self._template, path)
        return _sqlite_url(path)

    def _new_path(self) -> Path:
        return self._tmp_path_factory.mktemp("database") / "api.db"


class PostgresDatabases:
    """Databases on one PostgreSQL server, with random names."""

    name = "postgres"

    def __init__(self, server_url: str, *, drop_at_end: bool) -> None:
        self.server_url = server_url
        self._drop_at_end = drop_at_end
        self._created: list[str] = []
        self._template: str | None = None

    def new(self) -> str:
        return self._create(None)

    def new_migrated(self) -> str:
        if self._template is None:
            template = new_database_name("template")
            upgrade(self._create(template_name=None, name=template))
            self._template = template
        return self._create(self._template)

    def _create(self, template_name: str | None, name: str | None = None) -> str:
        name = name or new_database_name()
        url = create_database(self.server_url, name, template_name)
        self._created.append(name)
        return url

    def close(self) -> None:
        """Drop the databases created here, when the server outlives the run."""
        if not self._drop_at_end:
            return
        for name in reversed(self._created):
            drop_database(self.server_url, name)


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_databases(request: pytest.FixtureRequest) -> Iterator[PostgresDatabases]:
    """PostgreSQL databases for this process, whatever the selected backend."""
    server_url = request.config.stash.get(_server_url_key, None)
    cluster: PostgresCluster | None = None
    if server_url is None:
        try:
            cluster = PostgresCluster.start()
        except (LookupError, RuntimeError) as error:
            pytest.skip(f"no PostgreSQL server can be started here: {error}")
        server_url = cluster.url
    external = os.environ.get(SERVER_URL_VARIABLE) is not None
    databases = PostgresDatabases(server_url, drop_at_end=external)
    try:
        yield databases
    finally:
        databases.close()
        if cluster is not None:
            cluster.stop()


@pytest.fixture(scope="session")
def database_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Databases:
    """The selected backend's database factory."""
    if selected_backend(request.config) == "postgres":
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        return databases
    return SQLiteDatabases(tmp_path_factory)


@pytest.fixture
def database_url(database_backend: Databases) -> str:
    """A new empty database on the selected backend."""
    return database_backend.new()


@pytest.fixture
def migrated_database_url(database_backend: Databases) -> str:
    """A new database at the migration head on the selected backend."""
    return database_backend.new_migrated()


def fetch_all(url: str, statement: Executable) -> list[tuple[Any, ...]]:
    """Run `statement` on the database at `url` and return its rows as tuples.

    For tests that check what a command wrote. Column types decode values
    the same on every backend, as UUIDs and aware datetimes.
    """
    return run_blocking(_fetch_all(url, statement))


async def _fetch_all(url: str, statement: Executable) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(statement)
            rows: Sequence[Any] = result.all()
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


def table_names(url: str) -> set[str]:
    """Return the names of the tables in the database at `url`."""
    return run_blocking(_table_names(url))


async def _table_names(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
            return set(names)
    finally:
        await engine.dispose()
