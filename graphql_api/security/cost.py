"""The size of a GraphQL operation, measured before it runs.

`measure_operation` walks the operation that a request will execute, with
its fragments expanded, and returns:

- ``depth``: fields on the longest path from a root field to a leaf, not
  counting introspection fields (``__schema``, ``__type`` and below);
- ``aliases``: aliased fields, counted again at each use of a fragment;
- ``nodes``: the nodes that the operation may return, counted as GitHub
  counts them. Each connection adds its page size times the page sizes of
  the connections above it. The page size is `first` or `last`, or 25 when
  neither is given, and at most 100, the largest page that a connection
  returns. A list fetched by ids, such as ``nodes(ids:)``, counts
  its number of ids. Other lists are small lists inside payloads and count
  nothing;
- ``introspection_lists``: the most list fields that one introspection path
  goes through. The schema's introspection types refer to each other, so
  nested lists such as ``types { fields { type { fields ... } } }`` grow
  geometrically; GraphiQL's own query goes through three
  (``types { fields { args } }``).

The walk runs after validation, so the document is known to be valid
against the schema. Argument values come from literals, or from the raw
request variables before coercion. A value of the wrong type counts as left
out, because coercion rejects it later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql.type import (
    SchemaMetaFieldDef,
    TypeMetaFieldDef,
    is_abstract_type,
    is_introspection_type,
)

from graphql_api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

CONNECTION_SUFFIX = "Connection"


@dataclass(frozen=True, slots=True)
class OperationSize:
    """Measures of one operation; see the module docstring for each."""

    depth: int
    aliases: int
    nodes: int
    introspection_lists: int


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    variable_defaults: Mapping[str, ValueNode | None]
    depth: int = 0
    aliases: int = 0
    nodes: int = 0
    introspection_lists: int = 0


def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> OperationSize | None:
    """Measure the operation of `document` that a request runs.

    Returns None when the document has no such operation; execution then
    reports that error.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    walk = _Walk(
        schema=schema,
        fragments={
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        },
        variables=variables or {},
        variable_defaults=_variable_defaults(operation),
    )
    _walk_selections(walk, operation.selection_set, root, _Path())
    return OperationSize(
        depth=walk.depth,
        aliases=walk.aliases,
        nodes=walk.nodes,
        introspection_lists=walk.introspection_lists,
    )


@dataclass(frozen=True, slots=True)
class _Path:
    """The walk's position: the state that a field passes to its selections."""

    depth: int = 0
    multiplier: int = 1
    in_introspection: bool = False
    introspection_lists: int = 0
    in_connection: bool = False
    fragments: frozenset[str] = frozenset()


def _walk_selections(
    walk: _Walk,
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
    path: _Path,
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            _walk_field(walk, selection, parent, path)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = walk.schema.get_type(condition.name.value) if condition else None
            _walk_selections(walk, selection.selection_set, target or parent, path)
        elif isinstance(selection, FragmentSpreadNode):
            _walk_spread(walk, selection, parent, path)


def _walk_spread(
    walk: _Walk, spread: FragmentSpreadNode, parent: GraphQLNamedType, path: _Path
) -> None:
    name = spread.name.value
    fragment = walk.fragments.get(name)
    if fragment is None or name in path.fragments:
        return
    target = walk.schema.get_type(fragment.type_condition.name.value) or parent
    inner = _Path(
        depth=path.depth,
        multiplier=path.multiplier,
        in_introspection=path.in_introspection,
        introspection_lists=path.introspection_lists,
        in_connection=path.in_connection,
        fragments=path.fragments | {name},
    )
    _walk_selections(walk, fragment.selection_set, target, inner)


def _walk_field(
    walk: _Walk, node: FieldNode, parent: GraphQLNamedType, path: _Path
) -> None:
    if node.alias is not None:
        walk.aliases += 1
    name = node.name.value
    field = _field_definition(walk.schema, parent, name)
    if field is None:
        return
    introspection = (
        path.in_introspection or name.startswith("__") or is_introspection_type(parent)
    )
    depth = path.depth if introspection else path.depth + 1
    walk.depth = max(walk.depth, depth)
    if node.selection_set is None:
        return

    named = get_named_type(field.type)
    is_list = _is_list(field.type)
    multiplier = path.multiplier
    introspection_lists = path.introspection_lists
    if introspection:
        introspection_lists += int(is_list)
        walk.introspection_lists = max(walk.introspection_lists, introspection_lists)
    elif named.name.endswith(CONNECTION_SUFFIX):
        multiplier *= _page_size(walk, node)
        walk.nodes += multiplier
    elif is_list and not path.in_connection:
        count = _id_count(walk, node)
        if count is not None:
            multiplier *= count
            walk.nodes += multiplier

    inner = _Path(
        depth=depth,
        multiplier=multiplier,
        in_introspection=introspection,
        introspection_lists=introspection_lists,
        in_connection=named.name.endswith(CONNECTION_SUFFIX),
        fragments=path.fragments,
    )
    _walk_selections(walk, node.selection_set, named, inner)


def _field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType, name: str
) -> GraphQLField | None:
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType) or is_abstract_type(parent):
        fields = getattr(parent, "fields", None)
        if fields is not None:
            field: GraphQLField | None = fields.get(name)
            return field
    return None


def _is_list(field_type: Any) -> bool:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


def _page_size(walk: _Walk, node: FieldNode) -> int:
    for name in ("first", "last"):
        value = _argument_value(walk, node, name)
        if _is_graphql_int(value):
            # Larger pages are rejected by the resolver with a precise message.
            return min(max(int(value), 0), MAX_PAGE_SIZE)
    return DEFAULT_PAGE_SIZE


def _is_graphql_int(value: Any) -> bool:
    # GraphQL's Int is 32-bit; coercion rejects other values later.
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**31) <= value < 2**31
    )


def _id_count(walk: _Walk, node: FieldNode) -> int | None:
    value = _argument_value(walk, node, "ids")
    if isinstance(value, list):
        return len(value)
    return None


def _argument_value(walk: _Walk, node: FieldNode, name: str) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            return _value(walk, argument.value)
    return None


def _value(walk: _Walk, node: ValueNode | None) -> Any:
    if node is None:
        return None
    if isinstance(node, VariableNode):
        variable = node.name.value
        if variable in walk.variables:
            return walk.variables[variable]
        return _value(walk, walk.variable_defaults.get(variable))
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return [_value(walk, item) for item in node.values]
    return None


def _variable_defaults(
    operation: OperationDefinitionNode,
) -> dict[str, ValueNode | None]:
    return {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
    }
