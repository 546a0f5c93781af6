"""Build, cache and open the benchmark dataset on SQLite and PostgreSQL.

A build runs the project's migrations and then bulk-inserts the generated
rows: SQLAlchemy Core executemany on SQLite, and COPY through asyncpg on
PostgreSQL. The built SQLite file and a ``pg_dump`` of the PostgreSQL
database are cached under `BenchSettings.cache_dir`, named by
`dataset.cache_key`, so that later runs copy or restore them instead.
Every run works on a copy, because bulk revalidation writes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import (
    Column,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlmodel import SQLModel, col

from bench import dataset
from db import models
from db.migrate import head_revision, upgrade
from db.session import Database
from tests.postgres_support import postgres_server

logger = logging.getLogger("bench.databases")

# Tables in the order that their foreign keys allow.
TABLES = (
    "team",
    "environment",
    "api_token",
    "integration",
    "environment_integration",
    "integrated_account",
)
INSERT_CHUNK = 20_000
POSTGRES_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class PreparedDatabase:
    """A ready copy of the dataset: its URL and how it was obtained."""

    url: str
    source: str
    seconds: float


def build_key(accounts: int) -> str:
    """Name the cached build of a dataset with `accounts` accounts."""
    return dataset.cache_key(accounts, head_revision())


def _all_rows(
    catalog: dataset.Catalog, accounts: int
) -> Iterator[tuple[str, Iterable[dict[str, Any]]]]:
    yield from dataset.catalog_rows(catalog).items()
    yield "integrated_account", dataset.account_rows(catalog, accounts)


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


# -- SQLite ----------------------------------------------------------------


def sqlite_copy(cache_dir: Path, target: Path, accounts: int) -> PreparedDatabase:
    """Copy the cached SQLite build to `target`, building it first when missing."""
    started = time.perf_counter()
    cached = cache_dir / f"sqlite-{build_key(accounts)}.db"
    source = "cache"
    if not cached.exists():
        _build_sqlite(cached, accounts)
        _remove_older_builds(cached)
        source = "built"
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cached, target)
    _analyze_sqlite(target)
    url = f"sqlite+aiosqlite:///{target}"
    return PreparedDatabase(url, source, time.perf_counter() - started)


def _analyze_sqlite(path: Path) -> None:
    """Gather the planner's statistics, as PostgreSQL's copy gets them too.

    The GraphQL server gathers them at start-up when they are missing. Doing
    it here gives every server in the run the same plans, whichever starts
    first.
    """
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA analysis_limit=1000")
        connection.execute("ANALYZE")
        connection.commit()


def _build_sqlite(path: Path, accounts: int) -> None:
    logger.info("dataset_build_started database=sqlite path=%s", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    upgrade(f"sqlite+aiosqlite:///{partial}")
    # The synchronous pysqlite engine runs the same column types (GUID,
    # UTCDateTime, JSON) as the server's aiosqlite engine, so the stored text
    # is what the server itself would write.
    engine = create_engine(f"sqlite:///{partial}")
    catalog = dataset.make_catalog()
    with engine.begin() as connection:
        for name, rows in _all_rows(catalog, accounts):
            table = SQLModel.metadata.tables[name]
            for chunk in _chunks(rows, INSERT_CHUNK):
                connection.execute(insert(table), chunk)
    engine.dispose()
    partial.replace(path)
    logger.info("dataset_build_finished database=sqlite accounts=%d", accounts)


def _remove_older_builds(current: Path) -> None:
    """Delete the cached builds of the same database and size under older keys.

    A build goes stale when the dataset version or the migration head
    changes, and each one takes a few hundred megabytes. Names have the form
    ``<database>-v<version>-<accounts>-<head><suffix>``.
    """
    database, _version, accounts, _head = current.stem.split("-", 3)
    for path in current.parent.glob(f"{database}-v*-{accounts}-*{current.suffix}"):
        if path != current:
            logger.info("stale_build_removed path=%s", path)
            path.unlink()


# -- PostgreSQL ------------------------------------------------------------


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextmanager
def postgres_copy(cache_dir: Path, accounts: int) -> Iterator[PreparedDatabase]:
    """Start a throwaway PostgreSQL cluster holding the dataset; stop it on exit.

    Restores the cached dump, or builds the dataset and dumps it when the
    cache has none. Raises LookupError when PostgreSQL is not installed.
    """
    dump = cache_dir / f"postgresql-{build_key(accounts)}.dump"
    with postgres_server() as cluster:
        started = time.perf_counter()
        libpq_url = _libpq_url(cluster.url)
        if dump.exists():
            restore = cluster.binaries / "pg_restore"
            _run([str(restore), "--no-owner", "-d", libpq_url, str(dump)])
            source = "cache"
        else:
            _build_postgres(cluster.url, accounts)
            dump.parent.mkdir(parents=True, exist_ok=True)
            partial = dump.with_suffix(".partial")
            _run(
                [
                    str(cluster.binaries / "pg_dump"),
                    "-Fc",
                    "-f",
                    str(partial),
                    libpq_url,
                ]
            )
            partial.replace(dump)
            _remove_older_builds(dump)
            source = "built"
        # COPY and pg_restore leave the planner without statistics, which
        # autovacuum would gather on a live server.
        _run([str(cluster.binaries / "psql"), "-q", "-c", "ANALYZE", libpq_url])
        yield PreparedDatabase(cluster.url, source, time.perf_counter() - started)


def _build_postgres(url: str, accounts: int) -> None:
    logger.info("dataset_build_started database=postgresql")
    upgrade(url)
    asyncio.run(_copy_rows(_libpq_url(url), accounts))
    logger.info("dataset_build_finished database=postgresql accounts=%d", accounts)


async def _copy_rows(url: str, accounts: int) -> None:
    catalog = dataset.make_catalog()
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for name, rows in _all_rows(catalog, accounts):
                table = SQLModel.metadata.tables[name]
                for chunk in _chunks(rows, INSERT_CHUNK):
                    columns = list(chunk[0])
                    convert = [
                        _postgres_converter(table.c[column]) for column in columns
                    ]
                    records = [
                        tuple(
                            to_stored(row[column])
                            for to_stored, column in zip(convert, columns, strict=True)
                        )
                        for row in chunk
                    ]
                    await connection.copy_records_to_table(
                        name, records=records, columns=columns
                    )
    finally:
        await connection.close()


def _postgres_converter(column: Column[Any]) -> Callable[[Any], Any]:
    """Return the function that turns a value into what COPY sends for `column`.

    COPY bypasses SQLAlchemy's statement execution, so this applies the bind
    step that SQLAlchemy would: the project's column types (UUIDs, UTC
    timestamps, sealing of secrets) and then the asyncpg dialect's own, which
    turns JSON documents into text.
    """
    processor = column.type.dialect_impl(POSTGRES_DIALECT).bind_processor(
        POSTGRES_DIALECT
    )
    if processor is None:
        return _unchanged
    return processor


def _unchanged(value: Any) -> Any:
    return value


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed with exit code {result.returncode}: "
            f"{result.stderr.strip()[:2000]}"
        )


# -- Preparing a copy -------------------------------------------------------


async def point_at_upstream(url: str, upstream_url: str) -> None:
    """Set every integration's base URL to the loopback upstream's."""
    catalog = dataset.make_catalog()
    database = Database(url)
    try:
        async with database.write_session() as session:
            for name, integration_id in catalog.integrations.items():
                await session.execute(
                    update(models.Integration)
                    .where(col(models.Integration.id) == integration_id)
                    .values(config=dataset.integration_config(name, upstream_url))
                )
    finally:
        await database.dispose()


@dataclass(frozen=True, slots=True)
class DeepPosition:
    """The account at a depth of the newest-first order, and the one after it."""

    row: models.IntegratedAccount
    next_id: uuid.UUID


async def newest_first_row(url: str, depth: int) -> DeepPosition:
    """Find the `depth`-th newest account (1-based) and the id of the next one."""
    account = models.IntegratedAccount
    query = (
        select(account)
        .order_by(col(account.created_at).desc(), col(account.id).desc())
        .offset(depth - 1)
        .limit(2)
    )
    database = Database(url)
    try:
        async with database.read_session() as session:
            rows = list((await session.scalars(query)).all())
    finally:
        await database.dispose()
    if len(rows) != 2:
        raise ValueError(
            f"the dataset has fewer than {depth + 1} accounts: raise BENCH_ACCOUNTS"
        )
    return DeepPosition(rows[0], rows[1].id)
