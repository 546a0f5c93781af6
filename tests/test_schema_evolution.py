"""Breaking changes to schema.graphql need an announced removal date.

graphql-core's `find_breaking_changes` compares ``schema.graphql`` with the
released schema in ``tests/schema_evolution/baseline.graphql``. A removed
field, argument, input field or enum value is allowed when the baseline
deprecated it with a reason that contains ``Removal on YYYY-MM-DD`` and
that date has passed. Every other breaking change fails.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from graphql import (
    BreakingChangeType,
    GraphQLEnumType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)
from graphql.type import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

REPOSITORY = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPOSITORY / "schema.graphql"
BASELINE_FILE = REPOSITORY / "tests" / "schema_evolution" / "baseline.graphql"

REMOVAL_DATE = re.compile(r"Removal on (\d{4}-\d{2}-\d{2})")
# Descriptions of the removals that a deprecation can announce, as
# graphql-core 3.3 writes them.
FIELD_REMOVED = re.compile(r"Field (\w+)\.(\w+) was removed\.")
ARG_REMOVED = re.compile(r"Argument (\w+)\.(\w+)\((\w+):\) was removed\.")
VALUE_REMOVED = re.compile(r"Enum value (\w+)\.(\w+) was removed\.")
ANNOUNCEABLE = {
    BreakingChangeType.FIELD_REMOVED,
    BreakingChangeType.ARG_REMOVED,
    BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
}
NOT_ANNOUNCEABLE = (
    "Only removals can be announced: add the new form beside the old one, "
    "deprecate the old one and remove it after its removal date."
)


def unannounced_breaking_changes(
    old: GraphQLSchema, new: GraphQLSchema, today: date
) -> list[str]:
    """Return the breaking changes from `old` to `new` that were not announced.

    Each entry is graphql-core's description, followed by why the change is
    not allowed yet.
    """
    problems = []
    for change in find_breaking_changes(old, new):
        if change.type not in ANNOUNCEABLE:
            problems.append(f"{change.description} {NOT_ANNOUNCEABLE}")
            continue
        reason = _deprecation_reason(old, change.type, change.description)
        problem = _removal_problem(reason, today)
        if problem is not None:
            problems.append(f"{change.description} {problem}")
    return problems


def _deprecation_reason(
    schema: GraphQLSchema, change_type: BreakingChangeType, description: str
) -> str | None:
    """Return the deprecation reason of the element that the change removed.

    Returns None for an element that was not deprecated.
    """
    if change_type == BreakingChangeType.FIELD_REMOVED:
        match = FIELD_REMOVED.fullmatch(description)
        if match:
            return _field_reason(schema, match[1], match[2])
    if change_type == BreakingChangeType.ARG_REMOVED:
        match = ARG_REMOVED.fullmatch(description)
        if match:
            return _argument_reason(schema, match[1], match[2], match[3])
    if change_type == BreakingChangeType.VALUE_REMOVED_FROM_ENUM:
        match = VALUE_REMOVED.fullmatch(description)
        if match:
            enum = schema.get_type(match[1])
            assert isinstance(enum, GraphQLEnumType)
            return enum.values[match[2]].deprecation_reason
    return None


def _field_reason(schema: GraphQLSchema, type_name: str, field_name: str) -> str | None:
    owner = schema.get_type(type_name)
    assert isinstance(
        owner, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)
    )
    return owner.fields[field_name].deprecation_reason


def _argument_reason(
    schema: GraphQLSchema, type_name: str, field_name: str, argument: str
) -> str | None:
    owner = schema.get_type(type_name)
    assert isinstance(owner, (GraphQLObjectType, GraphQLInterfaceType))
    return owner.fields[field_name].args[argument].deprecation_reason


def _removal_problem(reason: str | None, today: date) -> str | None:
    if reason is None:
        return (
            'Deprecate it first with @deprecated(reason: "... Removal on '
            'YYYY-MM-DD.") and remove it after that date.'
        )
    match = REMOVAL_DATE.search(reason)
    if match is None:
        return f"Its deprecation reason {reason!r} names no 'Removal on YYYY-MM-DD'."
    removal = date.fromisoformat(match[1])
    if removal > today:
        return f"Its announced removal date {removal} has not come yet."
    return None


def deprecation_reasons(schema: GraphQLSchema) -> dict[str, str]:
    """Map the coordinate of every deprecated element to its reason."""
    reasons: dict[str, str] = {}
    for named in schema.type_map.values():
        if named.name.startswith("__"):
            continue
        if isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if value.deprecation_reason is not None:
                    reasons[f"{named.name}.{value_name}"] = value.deprecation_reason
        if isinstance(
            named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)
        ):
            for field_name, field in named.fields.items():
                if field.deprecation_reason is not None:
                    reasons[f"{named.name}.{field_name}"] = field.deprecation_reason
                for argument_name, argument in getattr(field, "args", {}).items():
                    if argument.deprecation_reason is not None:
                        coordinate = f"{named.name}.{field_name}({argument_name}:)"
                        reasons[coordinate] = argument.deprecation_reason
    return reasons


def test_schema_has_no_unannounced_breaking_change() -> None:
    old = build_schema(BASELINE_FILE.read_text(encoding="utf-8"))
    new = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))

    problems = unannounced_breaking_changes(old, new, date.today())

    assert problems == []


def test_deprecations_announce_removal_date() -> None:
    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))

    undated = {
        coordinate: reason
        for coordinate, reason in deprecation_reasons(schema).items()
        if REMOVAL_DATE.search(reason) is None
    }

    assert undated == {}


TODAY = date(2027, 1, 15)
OLD_SDL = """
type Query {
  account(
    id: ID!
    region: String @deprecated(reason: "Unused. Removal on 2027-01-01.")
  ): Account
  legacyAccounts: [Account] @deprecated(reason: "Use account. Removal on 2027-01-01.")
  laterAccounts: [Account] @deprecated(reason: "Use account. Removal on 2027-06-01.")
  undatedAccounts: [Account] @deprecated(reason: "Use account.")
  plainAccounts: [Account]
}

type Account {
  id: ID!
  status: Status!
}

enum Status {
  ACTIVE
  PAUSED @deprecated(reason: "Never set. Removal on 2026-12-31.")
  GONE
}
"""


def _without(sdl: str, *fragments: str) -> str:
    for fragment in fragments:
        assert fragment in sdl
        sdl = sdl.replace(fragment, "")
    return sdl


@pytest.mark.parametrize(
    ("new_sdl", "expected"),
    [
        pytest.param(OLD_SDL, [], id="unchanged"),
        pytest.param(
            OLD_SDL.replace(
                "  status: Status!\n", "  status: Status!\n  name: String\n"
            ),
            [],
            id="field-added",
        ),
        pytest.param(
            _without(
                OLD_SDL,
                '  legacyAccounts: [Account] @deprecated(reason: "Use '
                'account. Removal on 2027-01-01.")\n',
            ),
            [],
            id="due-field-removed",
        ),
        pytest.param(
            _without(
                OLD_SDL,
                '  PAUSED @deprecated(reason: "Never set. Removal on 2026-12-31.")\n',
            ),
            [],
            id="due-enum-value-removed",
        ),
        pytest.param(
            _without(
                OLD_SDL,
                '    region: String @deprecated(reason: "Unused. Removal on '
                '2027-01-01.")\n',
            ),
            [],
            id="due-argument-removed",
        ),
        pytest.param(
            _without(OLD_SDL, "  plainAccounts: [Account]\n"),
            ["Field Query.plainAccounts was removed. Deprecate it first"],
            id="undeprecated-field-removed",
        ),
        pytest.param(
            _without(
                OLD_SDL,
                '  laterAccounts: [Account] @deprecated(reason: "Use '
                'account. Removal on 2027-06-01.")\n',
            ),
            [
                "Field Query.laterAccounts was removed. Its announced removal date "
                "2027-06-01 has not come yet."
            ],
            id="field-removed-early",
        ),
        pytest.param(
            _without(
                OLD_SDL,
                '  undatedAccounts: [Account] @deprecated(reason: "Use account.")\n',
            ),
            [
                "Field Query.undatedAccounts was removed. Its deprecation reason "
                "'Use account.' names no 'Removal on YYYY-MM-DD'."
            ],
            id="undated-field-removed",
        ),
        pytest.param(
            _without(OLD_SDL, "  GONE\n"),
            ["Enum value Status.GONE was removed. Deprecate it first"],
            id="undeprecated-enum-value-removed",
        ),
        pytest.param(
            OLD_SDL.replace("  status: Status!\n", "  status: Status\n"),
            ["Field Account.status changed type from Status! to Status. Only removals"],
            id="field-type-changed",
        ),
    ],
)
def test_checker_allows_only_due_removals(new_sdl: str, expected: list[str]) -> None:
    problems = unannounced_breaking_changes(
        build_schema(OLD_SDL), build_schema(new_sdl), TODAY
    )

    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)
