"""The list queries' plans on SQLite and PostgreSQL use the indexes.

Each case runs a GraphQL list query in-process against a database with
thousands of accounts and events in 40 environments, with statistics
gathered by ANALYZE. The SELECT statements that the resolvers send are
captured with their parameters and explained: ``EXPLAIN QUERY PLAN`` on
SQLite, ``EXPLAIN (ANALYZE, FORMAT JSON)`` on PostgreSQL. The token is
narrowed to one environment, as most API tokens are.

For an order, the large table must be read through an index in that order:
no full scan and no sort step. For a filter, the filtered column must be
part of an index condition, not a filter applied to rows already read.
Both databases run every case, whatever backend the run selected.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from sqlalchemy import event, insert, text

from db import models
from db.migrate import upgrade
from db.session import Database
from db.types import utc_now
from graphql_api.auth import Principal
from graphql_api.context import RequestContext
from graphql_api.schema import schema
from tests.database_backend import PostgresDatabases

TEAMS = 4
ENVIRONMENTS_PER_TEAM = 10
INTEGRATIONS_PER_TEAM = 5
ACCOUNTS_PER_ENVIRONMENT = 150
EVENTS_PER_ENVIRONMENT = 150
LARGE_TABLES = ("integrated_account", "event")
STATUSES = ("active", "connecting", "needs_reauth", "validation_error")

ACCOUNTS = """
query ($first: Int, $after: String, $filter: IntegratedAccountFilter,
       $orderBy: [IntegratedAccountOrder!]) {
  integratedAccounts(first: $first, after: $after, filter: $filter,
                     orderBy: $orderBy) {
    nodes { id }
    pageInfo { endCursor }
  }
}
"""
ACCOUNT_COUNT = "{ integratedAccounts(first: 1) { totalCount } }"
EVENTS = "{ events(first: 25) { nodes { id } } }"

# The seeded database lives for the module, so the tests share its loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Explained:
    """One SELECT statement that a query sent, with its plan."""

    statement: str
    sqlite_plan: list[str]
    postgres_plan: list[dict[str, Any]]

    def large_table_nodes(self) -> list[dict[str, Any]]:
        """Return the PostgreSQL plan nodes that read a large table."""
        return [
            node
            for node in _walk(self.postgres_plan)
            if node.get("Relation Name") in LARGE_TABLES or _index_on_large_table(node)
        ]

    def reads_large_table(self) -> bool:
        """Return whether the statement reads accounts or events at all."""
        return any(f"FROM {table}" in self.statement for table in LARGE_TABLES)


def _walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _walk(node.get("Plans", []))


def _index_on_large_table(node: dict[str, Any]) -> bool:
    index = str(node.get("Index Name", ""))
    return any(index.startswith(f"ix_{table}_") for table in LARGE_TABLES)


class PlanReader:
    """Runs GraphQL queries on a seeded database and explains their SQL."""

    def __init__(self, database: Database, principal: Principal) -> None:
        self.database = database
        self.principal = principal
        self._captured: list[tuple[str, Any]] = []
        event.listen(
            database.engine.sync_engine, "before_cursor_execute", self._on_execute
        )

    def _on_execute(self, *args: Any) -> None:
        statement, parameters = args[2], args[3]
        if statement.lstrip().upper().startswith("SELECT"):
            self._captured.append((statement, parameters))

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """Run `query` as the environment's token and return its data."""
        context = RequestContext(
            database=self.database, principal=self.principal, request_id="plans"
        )
        result = await schema.execute(
            query, variable_values=variables, context_value=context
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    async def explain(self, query: str, **variables: Any) -> list[Explained]:
        """Run `query` and explain the statements that read a large table."""
        self._captured = []
        await self.data(query, **variables)
        captured, self._captured = self._captured, []
        explained = [await self._explain(*item) for item in captured]
        return [item for item in explained if item.reads_large_table()]

    async def _explain(self, statement: str, parameters: Any) -> Explained:
        async with self.database.engine.connect() as connection:
            if self.database.is_sqlite:
                rows = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
                return Explained(statement, [row[-1] for row in rows], [])
            result = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
            )
            document = result.scalar_one()
        if isinstance(document, str):
            document = orjson.loads(document)
        return Explained(statement, [], [item["Plan"] for item in document])


async def _seed(database: Database) -> Principal:
    """Fill the database and return a principal narrowed to one environment."""
    generator = random.Random(7)
    now = utc_now()
    environments: list[models.Environment] = []
    async with database.write_session() as session:
        for team_number in range(TEAMS):
            team = models.Team(name=f"plans-team-{team_number}")
            session.add(team)
            await session.flush()
            integrations = [
                models.Integration(
                    team_id=team.id, name=f"app-{number}", category="crm"
                )
                for number in range(INTEGRATIONS_PER_TEAM)
            ]
            session.add_all(integrations)
            for number in range(ENVIRONMENTS_PER_TEAM):
                environment = models.Environment(team_id=team.id, name=f"env-{number}")
                session.add(environment)
                environments.append(environment)
            await session.flush()
            for environment in environments[-ENVIRONMENTS_PER_TEAM:]:
                installs = [
                    models.EnvironmentIntegration(
                        environment_id=environment.id, integration_id=integration.id
                    )
                    for integration in integrations
                ]
                session.add_all(installs)
                await session.flush()
                await _add_accounts(session, generator, environment, installs, now)
                await _add_events(session, generator, environment, now)
    async with database.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    chosen = environments[TEAMS * ENVIRONMENTS_PER_TEAM // 2]
    return Principal(
        token_id=uuid.uuid4(), team_id=chosen.team_id, environment_id=chosen.id
    )


async def _add_accounts(
    session: Any,
    generator: random.Random,
    environment: models.Environment,
    installs: list[models.EnvironmentIntegration],
    now: Any,
) -> None:
    rows = []
    for _ in range(ACCOUNTS_PER_ENVIRONMENT):
        install = generator.choice(installs)
        created = now - timedelta(seconds=generator.randrange(10**7))
        rows.append(
            {
                "id": uuid.uuid4(),
                "environment_id": environment.id,
                "environment_integration_id": install.id,
                "integration_id": install.integration_id,
                "tenant_id": f"tenant-{generator.randrange(10**6):06d}",
                "status": generator.choice(STATUSES),
                "context": {},
                "is_sandbox": False,
                "region": "wnam",
                "created_at": created,
                "updated_at": created + timedelta(seconds=generator.randrange(10**5)),
            }
        )
    await session.execute(insert(models.IntegratedAccount), rows)


async def _add_events(
    session: Any,
    generator: random.Random,
    environment: models.Environment,
    now: Any,
) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "type": "integrated_account:active",
            "environment_id": environment.id,
            "payload": {},
            "created_at": now - timedelta(seconds=generator.randrange(10**7)),
        }
        for _ in range(EVENTS_PER_ENVIRONMENT)
    ]
    await session.execute(insert(models.Event), rows)


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", "postgres"]
)
async def plans(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PlanReader]:
    """A seeded database of each backend and a reader of its plans."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("plans") / "plans.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.new_migrated()
    database = Database(url)
    principal = await _seed(database)
    yield PlanReader(database, principal)
    await database.dispose()


def _assert_index_order(explained: list[Explained]) -> None:
    assert explained, "no statement read a large table"
    for item in explained:
        if item.sqlite_plan:
            large_table_lines = [
                line
                for line in item.sqlite_plan
                if any(table in line for table in LARGE_TABLES)
            ]
            assert large_table_lines, item.sqlite_plan
            for line in large_table_lines:
                assert line.startswith("SEARCH "), item.sqlite_plan
            assert "USE TEMP B-TREE FOR ORDER BY" not in item.sqlite_plan
            continue
        nodes = list(_walk(item.postgres_plan))
        assert item.large_table_nodes(), item.postgres_plan
        for node in nodes:
            assert node["Node Type"] != "Seq Scan", item.postgres_plan
            assert node["Node Type"] not in ("Sort", "Incremental Sort"), (
                item.postgres_plan
            )


def _assert_indexed_filter(explained: list[Explained], column: str) -> None:
    assert explained, "no statement read a large table"
    for item in explained:
        if item.sqlite_plan:
            searches = [line for line in item.sqlite_plan if line.startswith("SEARCH")]
            assert any(f"{column}" in line for line in searches), item.sqlite_plan
            assert not any(line.startswith("SCAN ") for line in item.sqlite_plan)
            continue
        conditions = " ".join(
            str(node.get("Index Cond", "")) + str(node.get("Recheck Cond", ""))
            for node in item.large_table_nodes()
        )
        assert column in conditions, item.postgres_plan
        assert all(
            node["Node Type"] != "Seq Scan" for node in _walk(item.postgres_plan)
        ), item.postgres_plan


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({}, id="created-at"),
        pytest.param({"orderBy": [{"field": "UPDATED_AT"}]}, id="updated-at"),
        pytest.param(
            {"orderBy": [{"field": "TENANT_ID", "direction": "DESC"}]}, id="tenant-id"
        ),
        pytest.param({"orderBy": [{"field": "CREATED_AT"}]}, id="created-at-asc"),
    ],
)
async def test_account_order_reads_index(
    plans: PlanReader, variables: dict[str, Any]
) -> None:
    explained = await plans.explain(ACCOUNTS, first=25, **variables)

    _assert_index_order(explained)


async def test_next_page_reads_index(plans: PlanReader) -> None:
    first_page = await plans.data(ACCOUNTS, first=25)
    cursor = first_page["integratedAccounts"]["pageInfo"]["endCursor"]

    explained = await plans.explain(ACCOUNTS, first=25, after=cursor)

    _assert_index_order(explained)


async def test_event_list_reads_index(plans: PlanReader) -> None:
    _assert_index_order(await plans.explain(EVENTS))


async def test_total_count_avoids_full_scan(plans: PlanReader) -> None:
    explained = await plans.explain(ACCOUNT_COUNT)

    _assert_indexed_filter(explained, "environment_id")


@pytest.mark.parametrize(
    ("account_filter", "column"),
    [
        pytest.param({"status": {"eq": "ACTIVE"}}, "status", id="status"),
        pytest.param(
            {"tenantId": {"startsWith": "tenant-01"}}, "tenant_id", id="tenant-prefix"
        ),
        pytest.param({"tenantId": {"eq": "tenant-010000"}}, "tenant_id", id="tenant"),
        pytest.param(
            {"createdAt": {"gt": "2026-01-01T00:00:00+00:00"}},
            "created_at",
            id="created-after",
        ),
    ],
)
async def test_account_filter_uses_index(
    plans: PlanReader, account_filter: dict[str, Any], column: str
) -> None:
    explained = await plans.explain(ACCOUNTS, first=25, filter=account_filter)

    _assert_indexed_filter(explained, column)
