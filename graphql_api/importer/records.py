"""Turn raw records into column values, checking every field.

Each parsed record keeps only the fields present in the file, so that a
re-import updates what the file sets and leaves the other columns alone.
Fields that the tables do not store (``team_id``, ``environment_id``,
``object_store_context_fields`` and the like) are ignored: records land in
the team and environment named on the command line.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from db.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SharingPolicy,
    SuperQueryRegion,
)
from graphql_api.importer import fields
from graphql_api.importer.fields import FieldError
from graphql_api.importer.problems import ImportProblem
from graphql_api.importer.reading import RawRecord, RecordKind

_TIMESTAMPS = ("created_at", "updated_at")
_ACCOUNT_TIMESTAMPS = (
    "credentials_expire_at",
    "last_refreshed_at",
    "last_validated_at",
)


@dataclass
class ParsedRecord:
    """A record's column values, references and position in its file.

    `values` maps column names to typed values for the fields the file sets.
    `integration_id`, `integration_name` and `install_id` are references to
    other records, resolved when the records are written.
    """

    source: RawRecord
    id: uuid.UUID | None = None
    values: dict[str, Any] = field(default_factory=dict)
    integration_id: uuid.UUID | None = None
    integration_name: str | None = None
    install_id: uuid.UUID | None = None

    def problem(self, field_name: str, message: str) -> ImportProblem:
        """Build a problem located at one of this record's fields."""
        location = self.source.field_location(field_name) if field_name else ""
        return ImportProblem(
            self.source.file, location or self.source.location, message
        )


@dataclass
class ParsedRecords:
    """The parsed records of an import, by kind, and the problems found."""

    integrations: list[ParsedRecord] = field(default_factory=list)
    installs: list[ParsedRecord] = field(default_factory=list)
    accounts: list[ParsedRecord] = field(default_factory=list)
    # Integrations nested in environment integrations, used only for the
    # integrations that no top-level record describes.
    nested_integrations: list[ParsedRecord] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


ConfigValidator = Callable[[dict[str, Any]], list[tuple[str, str]]]


def parse_records(
    records: list[RawRecord], validate_config: ConfigValidator
) -> ParsedRecords:
    """Check every field of every record and sort the records by kind."""
    parsed = ParsedRecords()
    for raw in records:
        if raw.kind is RecordKind.INTEGRATION:
            parsed.integrations.append(
                _parse_integration(raw, validate_config, parsed.problems)
            )
        elif raw.kind is RecordKind.ENVIRONMENT_INTEGRATION:
            parsed.installs.append(_parse_install(raw, validate_config, parsed))
        else:
            parsed.accounts.append(_parse_account(raw, parsed.problems))
    return parsed


class _FieldReader:
    """Reads fields of one record, turning each FieldError into a problem."""

    def __init__(self, record: ParsedRecord, problems: list[ImportProblem]) -> None:
        self.record = record
        self.data = record.source.data
        self.problems = problems

    def read(self, reader: Callable[..., Any], name: str, *args: Any, **kw: Any) -> Any:
        try:
            return reader(self.data, name, *args, **kw)
        except FieldError as error:
            self.problems.append(self.record.problem(error.field, error.message))
            return None

    def store(
        self,
        reader: Callable[..., Any],
        name: str,
        *args: Any,
        nullable: bool = False,
        **kw: Any,
    ) -> None:
        """Read a field into `values` when the file sets it.

        A JSON null is stored only in a `nullable` column; elsewhere it counts
        as a missing field.
        """
        if name not in self.data:
            return
        value = self.read(reader, name, *args, **kw)
        if value is not None or (nullable and self.data[name] is None):
            self.record.values[name] = value

    def store_timestamps(self, names: tuple[str, ...], *, nullable: bool) -> None:
        for name in names:
            self.store(fields.read_timestamp, name, nullable=nullable)


def _parse_integration(
    raw: RawRecord,
    validate_config: ConfigValidator,
    problems: list[ImportProblem],
) -> ParsedRecord:
    record = ParsedRecord(raw)
    reader = _FieldReader(record, problems)
    record.id = reader.read(fields.read_uuid, "id")
    reader.store(fields.read_text, "name", max_length=200, required=True)
    reader.store(fields.read_text, "category", max_length=100, required=True)
    if "name" not in raw.data:
        problems.append(record.problem("name", "missing: expected a non-empty string"))
    if "category" not in raw.data:
        problems.append(
            record.problem("category", "missing: expected a category such as 'crm'")
        )
    reader.store(fields.read_bool, "is_beta", False)
    reader.store(fields.read_enum, "sharing", SharingPolicy)
    reader.store(fields.read_int, "version", minimum=1)
    reader.store_timestamps(_TIMESTAMPS, nullable=False)
    if raw.data.get("config") is None:
        problems.append(record.problem("config", "missing: expected an object"))
    else:
        config = reader.read(fields.read_object, "config")
        if config is not None:
            record.values["config"] = config
            for path, message in validate_config(config):
                location = f"config.{path}" if path else "config"
                problems.append(record.problem(location, message))
    record.integration_name = record.values.get("name")
    return record


def _parse_install(
    raw: RawRecord, validate_config: ConfigValidator, parsed: ParsedRecords
) -> ParsedRecord:
    record = ParsedRecord(raw)
    reader = _FieldReader(record, parsed.problems)
    record.id = reader.read(fields.read_uuid, "id")
    record.integration_id = reader.read(fields.read_uuid, "integration_id")
    reader.store(fields.read_bool, "show_in_catalog", True)
    reader.store(fields.read_bool, "is_enabled", True)
    if "is_enabled" not in raw.data:
        # Some of Truto's pages name the same flag "is_active".
        enabled = reader.read(fields.read_bool, "is_active", True)
        if "is_active" in raw.data and enabled is not None:
            record.values["is_enabled"] = enabled
    # TODO: validate the override deep-merged over the integration's config,
    # not only its type, once the engine exposes the merge to the importer.
    reader.store(fields.read_object, "override")
    reader.store_timestamps(_TIMESTAMPS, nullable=False)
    _read_nested_integration(
        record, reader, validate_config, parsed.nested_integrations
    )
    if record.integration_id is None and record.integration_name is None:
        parsed.problems.append(
            record.problem(
                "integration_id",
                "missing: expected the integration's id, or an integration "
                "object with an id or a name",
            )
        )
    return record


def _read_nested_integration(
    record: ParsedRecord,
    reader: _FieldReader,
    validate_config: ConfigValidator | None,
    nested_integrations: list[ParsedRecord] | None,
) -> None:
    """Read the ``integration`` object that Truto nests in a record.

    In an environment integration, a nested object with a ``config``
    describes a whole integration, which goes to `nested_integrations`.
    Otherwise the object only names the integration by id or name.
    """
    nested = reader.read(fields.read_object, "integration")
    if nested is None:
        return
    location = record.source.field_location("integration")
    nested_raw = RawRecord(RecordKind.INTEGRATION, nested, record.source.file, location)
    nested_reader = _FieldReader(ParsedRecord(nested_raw), reader.problems)
    nested_id = nested_reader.read(fields.read_uuid, "id")
    nested_name = nested_reader.read(fields.read_text, "name", max_length=200)
    if record.integration_id is None:
        record.integration_id = nested_id
    elif nested_id is not None and nested_id != record.integration_id:
        reader.problems.append(
            record.problem(
                "integration.id",
                f"{str(nested_id)!r} differs from integration_id "
                f"{str(record.integration_id)!r}: expected the same integration",
            )
        )
    record.integration_name = nested_name
    if validate_config is None or nested_integrations is None:
        return
    if "config" in nested:
        integration = _parse_integration(nested_raw, validate_config, reader.problems)
        integration.id = record.integration_id
        nested_integrations.append(integration)


def _parse_account(raw: RawRecord, problems: list[ImportProblem]) -> ParsedRecord:
    record = ParsedRecord(raw)
    reader = _FieldReader(record, problems)
    record.id = reader.read(fields.read_uuid, "id")

    reader.store(fields.read_text, "tenant_id", max_length=500, required=True)
    if "tenant_id" not in raw.data:
        problems.append(
            record.problem("tenant_id", "missing: expected a non-empty string")
        )
    record.install_id = reader.read(fields.read_uuid, "environment_integration_id")
    record.integration_id = reader.read(fields.read_uuid, "integration_id")
    _read_nested_integration(record, reader, None, None)
    references = (record.install_id, record.integration_id, record.integration_name)
    if all(reference is None for reference in references):
        problems.append(
            record.problem(
                "environment_integration_id",
                "missing: expected the id of the environment integration, "
                "or an integration object with an id or a name",
            )
        )

    reader.store(fields.read_object, "context")
    reader.store(fields.read_enum, "status", IntegratedAccountStatus)
    reader.store(fields.read_text, "last_error", max_length=None, nullable=True)
    reader.store(fields.read_object, "last_action_result", nullable=True)
    reader.store(fields.read_bool, "is_sandbox", False)
    reader.store(
        fields.read_enum, "authentication_method", AuthenticationMethod, nullable=True
    )
    reader.store(fields.read_enum, "region", Region)
    _read_super_query(record, reader)
    reader.store_timestamps(_ACCOUNT_TIMESTAMPS, nullable=True)
    reader.store_timestamps(_TIMESTAMPS, nullable=False)
    return record


def _read_super_query(record: ParsedRecord, reader: _FieldReader) -> None:
    """Read the SuperQuery region, top-level or under ``features`` as Truto has it."""
    data = record.source.data
    if "super_query" in data:
        reader.store(fields.read_enum, "super_query", SuperQueryRegion, nullable=True)
        return
    features = reader.read(fields.read_object, "features")
    if features is None or "super_query" not in features:
        return
    try:
        value = fields.read_enum(features, "super_query", SuperQueryRegion)
    except FieldError as error:
        reader.problems.append(record.problem(f"features.{error.field}", error.message))
        return
    record.values["super_query"] = value
