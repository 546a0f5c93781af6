"""The operation measures that the query limits compare: depth, aliases, nodes."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_introspection_query, parse

from graphql_api.schema import schema
from graphql_api.security.cost import OperationSize, measure_operation


def _measure(
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> OperationSize:
    size = measure_operation(schema._schema, parse(query), operation_name, variables)
    assert size is not None
    return size


@pytest.mark.parametrize(
    ("query", "nodes"),
    [
        pytest.param("{ environments { totalCount } }", 25, id="default-page"),
        pytest.param("{ environments(last: 7) { totalCount } }", 7, id="last"),
        pytest.param(
            "{ environments(first: 10) { nodes { integratedAccounts(first: 10) "
            "{ edges { node { events(first: 10) { totalCount } } } } } } }",
            10 + 100 + 1000,
            id="three-levels",
        ),
        pytest.param(
            "{ integratedAccounts(first: 4000) { totalCount } }", 100, id="page-capped"
        ),
        pytest.param(
            '{ nodes(ids: ["a", "b", "c"]) { ... on Environment '
            "{ integratedAccounts(first: 2) { totalCount } } } }",
            3 + 6,
            id="node-ids-and-inline-fragment",
        ),
        pytest.param(
            "{ environments(first: 3) { nodes { ...Accounts } } } "
            "fragment Accounts on Environment { integratedAccounts(first: 5) "
            "{ totalCount } }",
            3 + 15,
            id="fragment",
        ),
        pytest.param('{ __typename node(id: "x") { id } }', 0, id="no-connection"),
    ],
)
def test_nodes_multiply_nested_pages(query: str, nodes: int) -> None:
    assert _measure(query).nodes == nodes


def test_nodes_read_variables_and_defaults() -> None:
    query = (
        "query ($a: Int = 4, $b: Int) { environments(first: $a) { nodes "
        "{ integratedAccounts(first: $b) { totalCount } } } }"
    )

    assert _measure(query, {"b": 6}).nodes == 4 + 24
    assert _measure(query, {"a": 2, "b": 3}).nodes == 2 + 6


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(2**40, id="beyond-int32"),
        pytest.param("10", id="string"),
        pytest.param(True, id="boolean"),
    ],
)
def test_invalid_page_size_counts_as_default(value: Any) -> None:
    query = "query ($n: Int) { environments(first: $n) { totalCount } }"

    assert _measure(query, {"n": value}).nodes == 25


def test_depth_counts_fields_to_leaf() -> None:
    assert _measure("{ environments { nodes { id } } }").depth == 3


def test_depth_ignores_introspection() -> None:
    size = _measure(get_introspection_query(descriptions=True))

    assert size.depth == 0
    assert size.nodes == 0


def test_graphiql_query_nests_three_introspection_lists() -> None:
    assert _measure(get_introspection_query()).introspection_lists == 3


def test_introspection_lists_count_along_path() -> None:
    query = "{ __schema { types { fields { type { fields { type { name } } } } } } }"

    assert _measure(query).introspection_lists == 3


def test_aliases_count_each_fragment_use() -> None:
    query = (
        "{ x: environments { ...F } y: environments { ...F } } "
        "fragment F on EnvironmentConnection { a: totalCount b: totalCount }"
    )

    assert _measure(query).aliases == 2 + 4


def test_named_operation_is_measured() -> None:
    query = (
        "query Small { environments(first: 1) { totalCount } } "
        "query Large { environments(first: 90) { totalCount } }"
    )

    assert _measure(query, operation_name="Large").nodes == 90


def test_missing_operation_gives_none() -> None:
    document = parse("query A { __typename } query B { __typename }")

    assert measure_operation(schema._schema, document, None, None) is None
