"""The committed schema file and the documentation of every schema element."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
)

from graphql_api.schema import schema, schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_file_matches_code() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")

    assert committed == schema_sdl(), (
        "schema.graphql is out of date: run `graphql-api export-schema "
        "--output schema.graphql` and commit the result"
    )


def _own_types() -> list[GraphQLNamedType]:
    return [
        named
        for name, named in schema._schema.type_map.items()
        if not name.startswith("__")
    ]


def _undocumented(named: GraphQLNamedType) -> list[str]:
    missing = [] if named.description else [named.name]
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        for field_name, field in named.fields.items():
            if not field.description:
                missing.append(f"{named.name}.{field_name}")
            missing.extend(
                f"{named.name}.{field_name}({argument_name})"
                for argument_name, argument in field.args.items()
                if not argument.description
            )
    if isinstance(named, GraphQLInputObjectType):
        missing.extend(
            f"{named.name}.{field_name}"
            for field_name, field in named.fields.items()
            if not field.description
        )
    if isinstance(named, GraphQLEnumType):
        missing.extend(
            f"{named.name}.{value_name}"
            for value_name, value in named.values.items()
            if not value.description
        )
    return missing


def test_every_schema_element_has_description() -> None:
    missing = [name for named in _own_types() for name in _undocumented(named)]

    assert missing == []


def test_description_check_finds_gaps() -> None:
    bare = GraphQLEnumType("Bare", {"ONE": 1})

    assert _undocumented(bare) == ["Bare", "Bare.ONE"]


def test_schema_has_the_contract_root_fields() -> None:
    query_fields = set(schema._schema.query_type.fields)

    assert {
        "node",
        "nodes",
        "environments",
        "integrations",
        "environmentIntegrations",
        "integratedAccounts",
    } <= query_fields
