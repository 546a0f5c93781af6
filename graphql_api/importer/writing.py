"""Write parsed records into one team and environment.

The caller runs this inside one write transaction. Every reference is
checked before anything is flushed, and any problem raises ImportFailed, so
the transaction rolls back and nothing is written. Records keep the ids of
the file. A record updates the row that has its id, or else the row that has
its natural key. The natural keys are the integration's name in the team and
the installed integration in the environment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from db.models import (
    Environment,
    EnvironmentIntegration,
    IntegratedAccount,
    Integration,
    Team,
)
from db.types import utc_now
from graphql_api.importer.problems import ImportFailed, ImportProblem
from graphql_api.importer.records import ParsedRecord, ParsedRecords
from graphql_api.secrets import mark_context_secrets

_Model = TypeVar("_Model", bound=SQLModel)

# Rows are loaded by id in chunks, well below the bound-parameter limits of
# SQLite (32766 since 3.32) and of PostgreSQL's wire protocol (32767).
_ID_CHUNK = 500

INTEGRATIONS = "integrations"
ENVIRONMENT_INTEGRATIONS = "environment integrations"
INTEGRATED_ACCOUNTS = "integrated accounts"
_KINDS = (INTEGRATIONS, ENVIRONMENT_INTEGRATIONS, INTEGRATED_ACCOUNTS)


@dataclass
class ImportSummary:
    """Counts of the rows an import created and updated, per kind of record."""

    team: str
    environment: str
    team_created: bool = False
    environment_created: bool = False
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))

    def lines(self) -> list[str]:
        """Describe the import in a few lines for a person to read."""
        lines = []
        if self.team_created:
            lines.append(f"Created team {self.team!r}.")
        if self.environment_created:
            lines.append(f"Created environment {self.environment!r}.")
        lines.append(
            f"Imported into team {self.team!r}, environment {self.environment!r}:"
        )
        for kind in _KINDS:
            lines.append(
                f"  {kind}: {self.created[kind]} created, {self.updated[kind]} updated"
            )
        return lines


async def write_records(
    session: AsyncSession, team_name: str, environment_name: str, parsed: ParsedRecords
) -> ImportSummary:
    """Create or update every parsed record, or raise ImportFailed."""
    summary = ImportSummary(team_name, environment_name)
    team, summary.team_created = await get_or_create_team(session, team_name)
    environment, summary.environment_created = await get_or_create_environment(
        session, team, environment_name
    )
    writer = _Writer(session, team, environment, summary)
    # Once a problem is found, rows with invalid values may be pending, so no
    # query may flush them. Until then, each stage is flushed on its own, so
    # that parents are inserted before the rows whose foreign keys need them.
    with session.no_autoflush:
        await writer.write_integrations(parsed.integrations, nested=False)
        await writer.write_integrations(parsed.nested_integrations, nested=True)
        await writer.flush_unless(parsed.problems)
        await writer.write_installs(parsed.installs)
        await writer.flush_unless(parsed.problems)
        await writer.write_accounts(parsed.accounts)
        await writer.flush_unless(parsed.problems)
    problems = parsed.problems + writer.problems
    if problems:
        raise ImportFailed(problems)
    return summary


async def get_or_create_team(session: AsyncSession, name: str) -> tuple[Team, bool]:
    """Return the team called `name`, creating it when missing."""
    team = (await session.scalars(select(Team).where(col(Team.name) == name))).first()
    if team is not None:
        return team, False
    team = Team(name=name)
    session.add(team)
    await session.flush()
    return team, True


async def get_or_create_environment(
    session: AsyncSession, team: Team, name: str
) -> tuple[Environment, bool]:
    """Return the team's environment called `name`, creating it when missing."""
    query = select(Environment).where(
        col(Environment.team_id) == team.id, col(Environment.name) == name
    )
    environment = (await session.scalars(query)).first()
    if environment is not None:
        return environment, False
    environment = Environment(team_id=team.id, name=name)
    session.add(environment)
    await session.flush()
    return environment, True


async def _load_by_ids(
    session: AsyncSession, model: type[_Model], ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, _Model]:
    unique_ids = list(dict.fromkeys(ids))
    rows: dict[uuid.UUID, _Model] = {}
    for start in range(0, len(unique_ids), _ID_CHUNK):
        chunk = unique_ids[start : start + _ID_CHUNK]
        query = select(model).where(col(model.id).in_(chunk))  # type: ignore[attr-defined]
        for row in await session.scalars(query):
            rows[row.id] = row  # type: ignore[attr-defined]
    return rows


class _Rejected:
    """Marks a record that was reported as a problem and must not be written."""


REJECTED = _Rejected()


class _Writer:
    """Resolves references between records and applies them to the session."""

    def __init__(
        self,
        session: AsyncSession,
        team: Team,
        environment: Environment,
        summary: ImportSummary,
    ) -> None:
        self.session = session
        self.team = team
        self.environment = environment
        self.summary = summary
        self.problems: list[ImportProblem] = []
        self.integrations_by_id: dict[uuid.UUID, Integration] = {}
        self.integrations_by_name: dict[str, Integration] = {}
        self.installs_by_id: dict[uuid.UUID, EnvironmentIntegration] = {}
        self.installs_by_integration: dict[uuid.UUID, EnvironmentIntegration] = {}
        self.written: dict[Any, ParsedRecord] = {}

    async def flush_unless(self, parse_problems: list[ImportProblem]) -> None:
        """Flush the pending rows unless a problem was found."""
        if not (parse_problems or self.problems):
            await self.session.flush()

    def _report(self, record: ParsedRecord, field_name: str, message: str) -> None:
        self.problems.append(record.problem(field_name, message))

    def _check_duplicate(self, record: ParsedRecord, key: Any, kind: str) -> bool:
        """Report a second record for the same row; return whether it is one."""
        first = self.written.get(key)
        if first is None:
            self.written[key] = record
            return False
        where = f"{first.source.file}: {first.source.location or 'the whole file'}"
        self._report(record, "", f"duplicate {kind}: the same row as {where}")
        return True

    # Integrations

    async def write_integrations(
        self, records: Sequence[ParsedRecord], *, nested: bool
    ) -> None:
        """Create or update integrations of the team.

        A `nested` record, taken from an environment integration, is skipped
        when another record already describes the same integration.
        """
        names = [record.values["name"] for record in records if "name" in record.values]
        by_id = await _load_by_ids(
            self.session, Integration, [r.id for r in records if r.id]
        )
        by_name = await self._team_integrations_named(names)
        for record in records:
            name = record.values.get("name")
            if name is None:
                continue
            if nested and self._describes_known_integration(record, name):
                continue
            keys = [("integration", name)]
            if record.id is not None:
                keys.append(("integration", record.id))
            if any(self._check_duplicate(record, key, "integration") for key in keys):
                continue
            existing = self._match_integration(record, name, by_id, by_name)
            if not isinstance(existing, _Rejected):
                self._apply_integration(record, existing)

    def _describes_known_integration(self, record: ParsedRecord, name: str) -> bool:
        return name in self.integrations_by_name or (
            record.id is not None and record.id in self.integrations_by_id
        )

    async def _team_integrations_named(
        self, names: list[str]
    ) -> dict[str, Integration]:
        if not names:
            return {}
        query = select(Integration).where(
            col(Integration.team_id) == self.team.id,
            col(Integration.name).in_(names),
        )
        return {row.name: row for row in await self.session.scalars(query)}

    def _match_integration(
        self,
        record: ParsedRecord,
        name: str,
        by_id: dict[uuid.UUID, Integration],
        by_name: dict[str, Integration],
    ) -> Integration | _Rejected | None:
        """Return the row the record updates, None for a new row, or REJECTED."""
        existing = by_id.get(record.id) if record.id else None
        if existing is not None and existing.team_id != self.team.id:
            self._report(
                record, "id", f"integration {str(record.id)!r} belongs to another team"
            )
            return REJECTED
        named = by_name.get(name)
        if named is None or (existing is not None and named.id == existing.id):
            return existing
        if existing is None and record.id is None:
            return named
        self._report(
            record,
            "name",
            f"{name!r} is already the name of integration {str(named.id)!r} in team "
            f"{self.team.name!r}: expected that id, or another name",
        )
        return REJECTED

    def _apply_integration(
        self, record: ParsedRecord, existing: Integration | None
    ) -> None:
        values = dict(record.values)
        if existing is not None and "version" not in values:
            changed = values.get("config", existing.config) != existing.config
            values["version"] = existing.version + 1 if changed else existing.version
        integration = self._upsert(
            Integration, existing, record, values, INTEGRATIONS, team_id=self.team.id
        )
        self.integrations_by_id[integration.id] = integration
        self.integrations_by_name[integration.name] = integration

    async def _find_integration(
        self, integration_id: uuid.UUID | None, name: str | None
    ) -> Integration | None:
        """Find a team's integration among the imported records, then the rows."""
        if integration_id is not None:
            found = self.integrations_by_id.get(integration_id)
            if found is None:
                found = await self.session.get(Integration, integration_id)
            if found is None or found.team_id != self.team.id:
                return None
        elif name is not None:
            found = self.integrations_by_name.get(name)
            if found is None:
                found = (await self._team_integrations_named([name])).get(name)
            if found is None:
                return None
        else:
            return None
        self.integrations_by_id[found.id] = found
        self.integrations_by_name[found.name] = found
        return found

    # Environment integrations

    async def write_installs(self, records: Sequence[ParsedRecord]) -> None:
        """Create or update the environment's installed integrations."""
        by_id = await _load_by_ids(
            self.session, EnvironmentIntegration, [r.id for r in records if r.id]
        )
        query = select(EnvironmentIntegration).where(
            col(EnvironmentIntegration.environment_id) == self.environment.id
        )
        for row in await self.session.scalars(query):
            self.installs_by_integration[row.integration_id] = row
        for record in records:
            await self._write_install(record, by_id)

    async def _write_install(
        self, record: ParsedRecord, by_id: dict[uuid.UUID, EnvironmentIntegration]
    ) -> None:
        integration = await self._find_integration(
            record.integration_id, record.integration_name
        )
        if integration is None:
            self._report_missing_integration(record)
            return
        keys = [("install", integration.id)]
        if record.id is not None:
            keys.append(("install", record.id))
        if any(
            self._check_duplicate(record, key, "environment integration")
            for key in keys
        ):
            return
        existing = self._match_install(record, integration, by_id)
        if isinstance(existing, _Rejected):
            return
        install = self._upsert(
            EnvironmentIntegration,
            existing,
            record,
            dict(record.values),
            ENVIRONMENT_INTEGRATIONS,
            environment_id=self.environment.id,
            integration_id=integration.id,
        )
        self.installs_by_id[install.id] = install
        self.installs_by_integration[integration.id] = install

    def _report_missing_integration(self, record: ParsedRecord) -> None:
        if record.integration_id is not None:
            reference = f"integration {str(record.integration_id)!r}"
            field_name = "integration_id"
        else:
            reference = f"integration named {record.integration_name!r}"
            field_name = "integration.name"
        self._report(
            record,
            field_name,
            f"{reference} is neither in the import files nor in team "
            f"{self.team.name!r}: import the integration too",
        )

    def _match_install(
        self,
        record: ParsedRecord,
        integration: Integration,
        by_id: dict[uuid.UUID, EnvironmentIntegration],
    ) -> EnvironmentIntegration | _Rejected | None:
        """Return the row the record updates, None for a new row, or REJECTED."""
        existing = by_id.get(record.id) if record.id else None
        if existing is not None and existing.environment_id != self.environment.id:
            self._report(
                record,
                "id",
                f"environment integration {str(record.id)!r} belongs to another "
                "environment",
            )
            return REJECTED
        if existing is not None and existing.integration_id != integration.id:
            self._report(
                record,
                "integration_id",
                f"{str(integration.id)!r} differs from the installed integration "
                f"{str(existing.integration_id)!r}: an environment integration "
                "cannot change its integration",
            )
            return REJECTED
        installed = self.installs_by_integration.get(integration.id)
        if installed is None or existing is not None:
            return existing
        if record.id is None:
            return installed
        self._report(
            record,
            "id",
            f"integration {integration.name!r} is already installed in environment "
            f"{self.environment.name!r} as {str(installed.id)!r}: expected that id",
        )
        return REJECTED

    async def _find_install(
        self, record: ParsedRecord
    ) -> EnvironmentIntegration | None:
        if record.install_id is not None:
            found = self.installs_by_id.get(record.install_id)
            if found is None:
                found = await self.session.get(
                    EnvironmentIntegration, record.install_id
                )
            if found is None or found.environment_id != self.environment.id:
                return None
            return found
        integration = await self._find_integration(
            record.integration_id, record.integration_name
        )
        if integration is None:
            return None
        return self.installs_by_integration.get(integration.id)

    # Integrated accounts

    async def write_accounts(self, records: Sequence[ParsedRecord]) -> None:
        """Create or update the environment's integrated accounts."""
        by_id = await _load_by_ids(
            self.session, IntegratedAccount, [r.id for r in records if r.id]
        )
        for record in records:
            if "tenant_id" not in record.values:
                continue
            install = await self._find_install(record)
            if install is None:
                self._report_missing_install(record)
                continue
            if not self._install_matches_integration(record, install):
                continue
            if record.id is not None and self._check_duplicate(
                record, ("account", record.id), "integrated account"
            ):
                continue
            existing = by_id.get(record.id) if record.id else None
            if existing is not None and existing.environment_id != self.environment.id:
                self._report(
                    record,
                    "id",
                    f"integrated account {str(record.id)!r} belongs to another "
                    "environment",
                )
                continue
            self._upsert(
                IntegratedAccount,
                existing,
                record,
                await self._account_values(record, install),
                INTEGRATED_ACCOUNTS,
                environment_id=self.environment.id,
                environment_integration_id=install.id,
                integration_id=install.integration_id,
            )

    async def _account_values(
        self, record: ParsedRecord, install: EnvironmentIntegration
    ) -> dict[str, Any]:
        """Return the account's values, its password fields marked as secret."""
        values = dict(record.values)
        context = values.get("context")
        if isinstance(context, dict):
            integration = self.integrations_by_id.get(
                install.integration_id
            ) or await self.session.get(Integration, install.integration_id)
            config = integration.config if integration else None
            values["context"] = mark_context_secrets(context, config, install.override)
        return values

    def _report_missing_install(self, record: ParsedRecord) -> None:
        environment = self.environment.name
        if record.install_id is not None:
            self._report(
                record,
                "environment_integration_id",
                f"environment integration {str(record.install_id)!r} is neither in "
                f"the import files nor in environment {environment!r}: import it too",
            )
            return
        reference = (
            repr(str(record.integration_id))
            if record.integration_id is not None
            else repr(record.integration_name)
        )
        self._report(
            record,
            "integration",
            f"integration {reference} is not installed in environment "
            f"{environment!r}: import its environment integration too",
        )

    def _install_matches_integration(
        self, record: ParsedRecord, install: EnvironmentIntegration
    ) -> bool:
        if record.integration_id is None or record.install_id is None:
            return True
        if record.integration_id == install.integration_id:
            return True
        self._report(
            record,
            "integration_id",
            f"{str(record.integration_id)!r} differs from the integration "
            f"{str(install.integration_id)!r} of environment integration "
            f"{str(install.id)!r}",
        )
        return False

    # Shared

    def _upsert(
        self,
        model: type[_Model],
        existing: _Model | None,
        record: ParsedRecord,
        values: dict[str, Any],
        kind: str,
        **owner: Any,
    ) -> _Model:
        """Create a row from `values` or update `existing` with them."""
        if existing is None:
            row = model(id=record.id or uuid.uuid4(), **owner, **values)
            self.session.add(row)
            self.summary.created[kind] += 1
            return row
        for name, value in {**owner, **values}.items():
            setattr(existing, name, value)
        if "updated_at" not in values:
            existing.updated_at = utc_now()
        self.summary.updated[kind] += 1
        return existing
