"""The fields that a compiled read can select, and the columns behind them.

Only plain column fields are listed. A field that needs a resolver (a
redacted JSON document, a field that depends on the caller, a nested
connection) is missing on purpose: a document that selects one runs through
the GraphQL executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from graphql_api.compiled.values import (
    Dialect,
    Reader,
    bool_reader,
    enum_reader,
    int_reader,
    nullable,
    text_reader,
)
from graphql_api.types.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SharingPolicy,
    SuperQueryRegion,
)


@dataclass(frozen=True, slots=True)
class ColumnField:
    """A GraphQL field read from one column; `reader` builds the JSON value."""

    column: str
    reader: Callable[[Dialect], Reader]


@dataclass(frozen=True, slots=True)
class JoinedObject:
    """A field whose value is the row that a foreign key points at."""

    table: str
    alias: str
    foreign_key: str
    type_name: str
    fields: Mapping[str, ColumnField]


def _id(column: str, *, optional: bool = False) -> ColumnField:
    def reader(dialect: Dialect) -> Reader:
        read = dialect.id_reader()
        return nullable(read) if optional else read

    return ColumnField(column, reader)


def _time(column: str, *, optional: bool = False) -> ColumnField:
    def reader(dialect: Dialect) -> Reader:
        read = dialect.time_reader()
        return nullable(read) if optional else read

    return ColumnField(column, reader)


def _enum(column: str, enum_type: type[Enum], *, optional: bool = False) -> ColumnField:
    read = enum_reader(enum_type)
    return ColumnField(column, lambda _dialect: nullable(read) if optional else read)


def _text(column: str, *, optional: bool = False) -> ColumnField:
    return ColumnField(
        column, lambda _dialect: nullable(text_reader) if optional else text_reader
    )


def _bool(column: str) -> ColumnField:
    return ColumnField(column, lambda _dialect: bool_reader)


def _int(column: str) -> ColumnField:
    return ColumnField(column, lambda _dialect: int_reader)


INTEGRATION_FIELDS: Mapping[str, ColumnField] = {
    "id": _id("id"),
    "name": _text("name"),
    "category": _text("category"),
    "isBeta": _bool("is_beta"),
    "sharing": _enum("sharing", SharingPolicy),
    "version": _int("version"),
    "teamId": _id("team_id"),
    "createdAt": _time("created_at"),
    "updatedAt": _time("updated_at"),
}

ENVIRONMENT_FIELDS: Mapping[str, ColumnField] = {
    "id": _id("id"),
    "name": _text("name"),
    "createdAt": _time("created_at"),
    "updatedAt": _time("updated_at"),
}

ACCOUNT_FIELDS: Mapping[str, ColumnField] = {
    "id": _id("id"),
    "tenantId": _text("tenant_id"),
    "status": _enum("status", IntegratedAccountStatus),
    "isSandbox": _bool("is_sandbox"),
    "authenticationMethod": _enum(
        "authentication_method", AuthenticationMethod, optional=True
    ),
    "region": _enum("region", Region),
    "superQuery": _enum("super_query", SuperQueryRegion, optional=True),
    "lastError": _text("last_error", optional=True),
    "integrationId": _id("integration_id"),
    "environmentId": _id("environment_id"),
    "environmentIntegrationId": _id("environment_integration_id"),
    "credentialsExpireAt": _time("credentials_expire_at", optional=True),
    "lastRefreshedAt": _time("last_refreshed_at", optional=True),
    "lastValidatedAt": _time("last_validated_at", optional=True),
    "createdAt": _time("created_at"),
    "updatedAt": _time("updated_at"),
}

ACCOUNT_OBJECTS: Mapping[str, JoinedObject] = {
    "integration": JoinedObject(
        "integration", "i", "integration_id", "Integration", INTEGRATION_FIELDS
    ),
    "environment": JoinedObject(
        "environment", "e", "environment_id", "Environment", ENVIRONMENT_FIELDS
    ),
}
