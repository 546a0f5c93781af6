"""Import integrations, installs and integrated accounts from Truto's JSON.

`import_files` reads the files that Truto's admin API returns and writes
every record into one team and environment, in one transaction. The record
shapes and field names are those of Truto's REST API, in snake_case.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.session import Database
from graphql_api.importer.problems import ImportFailed, ImportProblem
from graphql_api.importer.reading import ReadResult, read_document, read_files
from graphql_api.importer.records import parse_records
from graphql_api.importer.writing import ImportSummary, write_records

__all__ = [
    "ImportFailed",
    "ImportProblem",
    "ImportSummary",
    "import_documents",
    "import_files",
]


async def import_files(
    database: Database, team: str, environment: str, paths: Sequence[Path]
) -> ImportSummary:
    """Import the records of `paths` into a team's environment.

    The team and the environment are created when missing. Raises
    ImportFailed, with every problem found, when any file or record is
    invalid; nothing is written then.
    """
    return await _import(database, team, environment, read_files(paths))


async def import_documents(
    session: AsyncSession,
    team: str,
    environment: str,
    documents: Sequence[tuple[str, Any]],
) -> ImportSummary:
    """Import parsed JSON documents within the caller's write transaction.

    Each document comes with a name that problems use in place of a file
    name. Raises ImportFailed like `import_files`; the caller must then roll
    back, as `Database.write_session` does when the block raises.
    """
    result = ReadResult([], [])
    for name, document in documents:
        read_document(document, name, result)
    return await _write(session, team, environment, result)


async def _import(
    database: Database, team: str, environment: str, read: ReadResult
) -> ImportSummary:
    async with database.write_session() as session:
        return await _write(session, team, environment, read)


async def _write(
    session: AsyncSession, team: str, environment: str, read: ReadResult
) -> ImportSummary:
    parsed = parse_records(read.records, config_problems)
    parsed.problems[:0] = read.problems
    return await write_records(session, team, environment, parsed)


def config_problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the (JSON path, message) of every problem in an integration config."""
    from config_engine.config import validate_config

    return [(problem.path, problem.message) for problem in validate_config(config)]
