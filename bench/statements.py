"""Count the SQL statements that one list request costs, and explain its page query.

The application is built in this process on the benchmark database, with a
SQLAlchemy ``before_cursor_execute`` listener and an observer of the
compiled reads' statements (`db.session.Database.statement_observers`),
and called through httpx's ASGI transport, one request at a time. The
lifespan does not run, so no background task (such as the lifecycle's lease
sweeper) adds statements.
Transaction control (BEGIN, COMMIT, ROLLBACK) is counted apart from queries,
because SQLite's BEGIN goes through the cursor and asyncpg's does not.

The page query (the SELECT from ``integrated_account`` with ORDER BY) is run
again under EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (PostgreSQL) with the same
parameters, so that the results show which index serves it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import event

from bench.workloads import Workload
from db.session import Database
from graphql_api.app import create_app
from graphql_api.settings import Settings

_TRANSACTION_WORDS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# Characters of each statement kept in the results.
STATEMENT_PREFIX = 160


@dataclass(frozen=True, slots=True)
class CountCase:
    """One request whose statements are counted."""

    name: str
    workload: Workload
    total_count: bool = False


class StatementRecorder:
    """Collects the statements that an engine sends, with their parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def on_execute(self, *args: Any) -> None:
        """Record a statement and its parameters (a ``before_cursor_execute`` hook)."""
        self.on_statement(str(args[2]), args[3])

    def on_statement(self, statement: str, parameters: Any) -> None:
        """Record a statement sent outside the engine, such as a compiled read."""
        self.statements.append((statement, parameters))


async def count_statements(
    database_url: str, secret_key: str, token: str, cases: list[CountCase]
) -> list[dict[str, Any]]:
    """Send each case twice and report the statements of the second request.

    The first request warms the connection pool, so that connection setup
    does not count.
    """
    database = Database(database_url)
    recorder = StatementRecorder()
    event.listen(
        database.engine.sync_engine, "before_cursor_execute", recorder.on_execute
    )
    database.statement_observers.append(recorder.on_statement)
    settings = Settings(database_url=database_url, secret_key=secret_key)
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    results = []
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench.local", headers=headers
        ) as client:
            for case in cases:
                body = case.workload.graphql_body(total_count=case.total_count)
                await _post(client, body)
                recorder.statements.clear()
                await _post(client, body)
                summary = _summary(case, [text for text, _ in recorder.statements])
                page_query = _page_query(recorder.statements)
                if page_query is not None:
                    summary["page_query_plan"] = await explain(
                        database_url, *page_query
                    )
                results.append(summary)
    finally:
        await database.dispose()
    return results


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/graphql", json=body)
    document = response.json()
    if response.status_code != 200 or document.get("errors"):
        raise AssertionError(
            f"statement count request failed with {response.status_code}: "
            f"{str(document)[:500]}"
        )


def _summary(case: CountCase, statements: list[str]) -> dict[str, Any]:
    statements = [" ".join(statement.split()) for statement in statements]
    queries = [s for s in statements if not s.upper().startswith(_TRANSACTION_WORDS)]
    return {
        "case": case.name,
        "page_size": case.workload.first,
        "total_count_selected": case.total_count,
        "queries": len(queries),
        "transaction_statements": len(statements) - len(queries),
        "statements": [s[:STATEMENT_PREFIX] for s in queries],
    }


def _page_query(statements: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    for text, parameters in statements:
        flat = " ".join(text.split())
        if "FROM integrated_account" in flat and "ORDER BY" in flat:
            return text, parameters
    return None


async def explain(database_url: str, statement: str, parameters: Any) -> list[str]:
    """Return the plan of `statement` as the database describes it, line by line."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as connection:
            rows = connection.execute(
                f"EXPLAIN QUERY PLAN {statement}", tuple(parameters)
            ).fetchall()
        return [str(row[3]) for row in rows]
    url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"EXPLAIN {statement}", *parameters)
    finally:
        await connection.close()
    return [str(row[0]) for row in rows]
