"""Compile a validated GraphQL document into a plan for one SQL page query.

`compile_plan` accepts a query whose only root field is the
`integratedAccounts` connection and whose selections are plain columns of
the account, of its integration and of its environment, plus the
connection's `nodes`, `edges`, `pageInfo` and `totalCount`. Inline
fragments and fragment spreads on the selected type are inlined. Anything
else (a directive, an interface or union selection, a field with a
resolver, a repeated response key) returns None, and such documents always
run through the GraphQL executor.

A plan fixes the SELECT list and a builder for each response object, so
that serving a request only binds the arguments and reads the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from graphql_api.compiled.catalog import ACCOUNT_FIELDS, ACCOUNT_OBJECTS, JoinedObject
from graphql_api.compiled.values import Dialect, Unreadable

ROOT_FIELD = "integratedAccounts"
ACCOUNT_ALIAS = "a"
TYPENAME = "__typename"

RowBuilder = Callable[[Sequence[Any]], Any]


class NotCompilable(Exception):
    """Raised inside compilation for a selection that the plan cannot serve."""


@dataclass(frozen=True, slots=True)
class PageInfoPlan:
    """Response keys of `pageInfo`, in selection order, with their kinds."""

    key: str
    entries: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class EdgesPlan:
    """Response keys of `edges`: the cursor, the node and `__typename`."""

    key: str
    entries: tuple[tuple[str, str], ...]
    node: RowBuilder | None


@dataclass(slots=True)
class Plan:
    """How to serve one operation with one page query.

    `columns` is the SELECT list: the selected columns first, then the id
    column that cursors and joins need. `connection` lists the connection's
    response keys in selection order, each with its kind (``nodes``,
    ``edges``, ``pageInfo``, ``totalCount`` or ``typename``).
    """

    operation: OperationDefinitionNode
    field_node: FieldNode
    field_definition: GraphQLField
    root_key: str
    columns: list[str]
    joins: list[JoinedObject]
    connection: list[tuple[str, str, Any]]
    needs_cursors: bool = False
    needs_total_count: bool = False
    needs_previous_page: bool = False
    needs_next_page: bool = False
    id_index: int = -1


def compile_plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    dialect: Dialect,
) -> Plan | None:
    """Return the plan of the operation, or None when it needs the executor."""
    try:
        return _compile(schema, document, operation_name, dialect)
    except NotCompilable:
        return None


def _compile(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    dialect: Dialect,
) -> Plan:
    operation = _single_operation(document, operation_name)
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise NotCompilable
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    query_type = schema.query_type
    assert query_type is not None
    roots = _fields(operation.selection_set, query_type.name, fragments)
    if len(roots) != 1 or roots[0].name.value != ROOT_FIELD:
        raise NotCompilable
    root = roots[0]
    plan = Plan(
        operation=operation,
        field_node=root,
        field_definition=query_type.fields[ROOT_FIELD],
        root_key=_key(root),
        columns=[],
        joins=[],
        connection=[],
    )
    builder = _Builder(plan, dialect, fragments)
    builder.connection(root.selection_set)
    builder.finish()
    return plan


def _single_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode:
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name is None:
        # Several operations without a name to choose one are left to the
        # executor, which reports or resolves them.
        if len(operations) != 1:
            raise NotCompilable
        return operations[0]
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    raise NotCompilable


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _fields(
    selection_set: SelectionSetNode | None,
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> list[FieldNode]:
    """Flatten a selection set into its fields, inlining fragments on `type_name`.

    Raises NotCompilable for directives, fragments on other types and
    repeated response keys, whose merging is left to the executor.
    """
    if selection_set is None:
        raise NotCompilable
    found: list[FieldNode] = []
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompilable
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != type_name:
                raise NotCompilable
            found.extend(_fields(selection.selection_set, type_name, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if (
                fragment is None
                or fragment.directives
                or fragment.type_condition.name.value != type_name
            ):
                raise NotCompilable
            found.extend(_fields(fragment.selection_set, type_name, fragments))
    keys = [_key(node) for node in found]
    if len(set(keys)) != len(keys):
        raise NotCompilable
    return found


class _Builder:
    """Fills a plan's SELECT list and response builders from the selections."""

    def __init__(
        self,
        plan: Plan,
        dialect: Dialect,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.plan = plan
        self.dialect = dialect
        self.fragments = fragments

    def column(self, expression: str) -> int:
        columns = self.plan.columns
        if expression not in columns:
            columns.append(expression)
        return columns.index(expression)

    def connection(self, selection_set: SelectionSetNode | None) -> None:
        entries = self.plan.connection
        for node in _fields(
            selection_set, "IntegratedAccountConnection", self.fragments
        ):
            name, key = node.name.value, _key(node)
            if name == TYPENAME:
                entries.append((key, "typename", "IntegratedAccountConnection"))
            elif name == "totalCount":
                self.plan.needs_total_count = True
                entries.append((key, "totalCount", None))
            elif name == "nodes":
                entries.append((key, "nodes", self.account(node.selection_set)))
            elif name == "edges":
                entries.append((key, "edges", self.edges(key, node.selection_set)))
            elif name == "pageInfo":
                entries.append((key, "pageInfo", self.page_info(key, node)))
            else:
                raise NotCompilable

    def edges(self, key: str, selection_set: SelectionSetNode | None) -> EdgesPlan:
        entries: list[tuple[str, str]] = []
        node_builder: RowBuilder | None = None
        for node in _fields(selection_set, "IntegratedAccountEdge", self.fragments):
            name, field_key = node.name.value, _key(node)
            if name == TYPENAME:
                entries.append((field_key, "typename"))
            elif name == "cursor":
                self.plan.needs_cursors = True
                entries.append((field_key, "cursor"))
            elif name == "node":
                node_builder = self.account(node.selection_set)
                entries.append((field_key, "node"))
            else:
                raise NotCompilable
        return EdgesPlan(key, tuple(entries), node_builder)

    def page_info(self, key: str, field_node: FieldNode) -> PageInfoPlan:
        entries: list[tuple[str, str]] = []
        for node in _fields(field_node.selection_set, "PageInfo", self.fragments):
            name, field_key = node.name.value, _key(node)
            if name not in (
                TYPENAME,
                "hasNextPage",
                "hasPreviousPage",
                "startCursor",
                "endCursor",
            ):
                raise NotCompilable
            if name in ("startCursor", "endCursor"):
                self.plan.needs_cursors = True
            if name == "hasPreviousPage":
                self.plan.needs_previous_page = True
            if name == "hasNextPage":
                self.plan.needs_next_page = True
            entries.append((field_key, name))
        return PageInfoPlan(key, tuple(entries))

    def account(self, selection_set: SelectionSetNode | None) -> RowBuilder:
        parts: list[tuple[str, Callable[[Sequence[Any]], Any]]] = []
        for node in _fields(selection_set, "IntegratedAccount", self.fragments):
            name, key = node.name.value, _key(node)
            if name == TYPENAME:
                parts.append((key, _constant("IntegratedAccount")))
            elif name in ACCOUNT_FIELDS:
                spec = ACCOUNT_FIELDS[name]
                index = self.column(f"{ACCOUNT_ALIAS}.{spec.column}")
                parts.append((key, _reading(index, spec.reader(self.dialect))))
            elif name in ACCOUNT_OBJECTS:
                parts.append((key, self.joined(ACCOUNT_OBJECTS[name], node)))
            else:
                raise NotCompilable
        return _object_builder(parts)

    def joined(self, joined: JoinedObject, field_node: FieldNode) -> RowBuilder:
        if joined not in self.plan.joins:
            self.plan.joins.append(joined)
        # The joined row's id is NULL when the LEFT JOIN found no row.
        presence = self.column(f"{joined.alias}.id")
        parts: list[tuple[str, Callable[[Sequence[Any]], Any]]] = []
        for node in _fields(field_node.selection_set, joined.type_name, self.fragments):
            name, key = node.name.value, _key(node)
            if name == TYPENAME:
                parts.append((key, _constant(joined.type_name)))
            elif name in joined.fields:
                spec = joined.fields[name]
                index = self.column(f"{joined.alias}.{spec.column}")
                parts.append((key, _reading(index, spec.reader(self.dialect))))
            else:
                raise NotCompilable
        build = _object_builder(parts)

        def joined_object(row: Sequence[Any]) -> Any:
            if row[presence] is None:
                raise Unreadable(f"the {joined.table} row of an account is missing")
            return build(row)

        return joined_object

    def finish(self) -> None:
        self.plan.id_index = self.column(f"{ACCOUNT_ALIAS}.id")


def _constant(value: str) -> Callable[[Sequence[Any]], str]:
    return lambda _row: value


def _reading(
    index: int, reader: Callable[[Any], Any]
) -> Callable[[Sequence[Any]], Any]:
    return lambda row: reader(row[index])


def _object_builder(
    parts: Sequence[tuple[str, Callable[[Sequence[Any]], Any]]],
) -> RowBuilder:
    frozen = tuple(parts)

    def build(row: Sequence[Any]) -> dict[str, Any]:
        return {key: read(row) for key, read in frozen}

    return build
