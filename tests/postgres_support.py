"""Throwaway PostgreSQL clusters and databases for the tests.

`PostgresCluster.start` runs ``initdb`` and ``pg_ctl`` in a new temporary
folder, and the server listens on 127.0.0.1 only. Durability is off (no
fsync, no full-page writes), which is safe for data that is thrown away and
makes ``CREATE DATABASE`` fast enough to give each test its own database.

The cluster's default collation is ICU's ``en-US``, as on a typical
production server, rather than the byte order of the C locale. Text that
must sort and match the same way as on SQLite therefore has to say so in
the schema, and the tests would catch a column that does not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import make_url

from tests.cli_support import free_port

# Where Debian and Ubuntu install the server binaries, one folder per version.
DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
# Connections of every test process together. Each xdist worker keeps its live
# server's pool (up to 15) and a few short-lived ones, so this is an estimate
# that covers about 16 workers.
MAX_CONNECTIONS = 500
START_TIMEOUT_SECONDS = 60

_T = TypeVar("_T")


def find_postgres_binaries() -> Path:
    """Return the folder that contains ``initdb`` and ``pg_ctl``.

    Looks on PATH first, then in the newest version under
    `DEBIAN_POSTGRES_ROOT`. Raises LookupError when neither has them.
    """
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).resolve().parent
    versions = sorted(
        DEBIAN_POSTGRES_ROOT.glob("*/bin"),
        key=lambda folder: _version_number(folder.parent.name),
        reverse=True,
    )
    for folder in versions:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise LookupError(
        "initdb and pg_ctl are neither on PATH nor under "
        f"{DEBIAN_POSTGRES_ROOT}/<version>/bin: install the PostgreSQL server "
        "(Debian package postgresql) or set TEST_DATABASE_URL"
    )


def _version_number(name: str) -> int:
    return int(name) if name.isdigit() else -1


class PostgresCluster:
    """A running throwaway cluster. Build it with `start`, end it with `stop`."""

    def __init__(self, folder: Path, binaries: Path, prefix: list[str], port: int):
        self.folder = folder
        self.binaries = binaries
        self._prefix = prefix
        self.port = port

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> PostgresCluster:
        """Create a cluster in a new temporary folder and start its server.

        Raises LookupError when the binaries are missing, and RuntimeError
        when ``initdb`` or ``pg_ctl`` fails. PostgreSQL rejects running as
        root, so under root the server runs as the ``postgres`` system user
        through ``runuser``, in a folder that this user owns.
        """
        binaries = find_postgres_binaries()
        folder = Path(tempfile.mkdtemp(prefix="graphql-api-postgres-"))
        try:
            cluster = cls(folder, binaries, _postgres_user_prefix(folder), free_port())
            cluster._initdb()
            cluster._pg_ctl("start")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cluster

    def stop(self) -> None:
        """Stop the server at once and delete the cluster's folder."""
        try:
            self._pg_ctl("stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _initdb(self) -> None:
        _run_checked(
            [
                *self._prefix,
                str(self.binaries / "initdb"),
                "--pgdata",
                str(self.folder / "data"),
                "--auth",
                "trust",
                "--username",
                "postgres",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--locale-provider",
                "icu",
                "--icu-locale",
                "en-US",
                "--no-sync",
            ]
        )

    def _pg_ctl(self, action: str) -> None:
        data = str(self.folder / "data")
        command = [*self._prefix, str(self.binaries / "pg_ctl"), "--pgdata", data]
        if action == "stop":
            _run_checked([*command, "--mode", "immediate", "stop"])
            return
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.folder}",
                f"-c max_connections={MAX_CONNECTIONS}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        log = str(self.folder / "server.log")
        _run_checked(
            [
                *command,
                "--options",
                options,
                "--log",
                log,
                "--wait",
                "--timeout",
                str(START_TIMEOUT_SECONDS),
                "start",
            ]
        )


@contextmanager
def postgres_server() -> Iterator[PostgresCluster]:
    """Start a throwaway cluster for the block and stop it afterwards."""
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _run_checked(command: list[str]) -> None:
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {result.returncode}: "
            f"{result.stderr.strip()}"
        )


def _postgres_user_prefix(folder: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise LookupError("running as root, and runuser is not on PATH")
    shutil.chown(folder, user="postgres")
    return [runuser, "-u", "postgres", "--"]


# Databases


def database_url(server_url: str, name: str) -> str:
    """Return `server_url` with its database replaced by `name`."""
    url = make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False)


def new_database_name(prefix: str = "test") -> str:
    """Return a database name that no other test process picks."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` on the server, as a copy of `template` if given.

    Returns the new database's URL. `server_url` must name a database that
    the role can connect to, and the role needs the CREATEDB privilege.
    A template must have no open connections while it is copied.
    """
    statement = f'CREATE DATABASE "{name}"'
    if template is not None:
        statement += f' TEMPLATE "{template}"'
    run_blocking(_execute(server_url, statement))
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, closing any connection that still uses it."""
    run_blocking(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` to the end, also when this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()
