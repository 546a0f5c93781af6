"""Relay-style connection types and the resolver steps that all lists share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement
from sqlmodel import SQLModel

from graphql_api.context import Info
from graphql_api.pagination import Page, SortKey, fetch_page, read_window

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT", bound=SQLModel)

First = Annotated[
    int | None,
    strawberry.argument(
        description="Return the first n rows (0 to 100) after `after`. When "
        "neither `first` nor `last` is given, the page contains the first 25 rows."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Start after this cursor, taken from a previous page of the "
        "same connection and order."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="Return the last n rows (0 to 100) before `before`. Cannot "
        "be combined with `first`."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="End before this cursor, taken from a previous page of the "
        "same connection and order."
    ),
]


@strawberry.type(description="Position and neighbours of the current page.")
class PageInfo:
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first row of the page; null when it is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last row of the page; null when it is empty."
    )
    next_page_check: strawberry.Private[Callable[[], Awaitable[bool]]]
    previous_page_check: strawberry.Private[Callable[[], Awaitable[bool]]]

    @strawberry.field(
        description="Whether rows follow this page. Paging backward with "
        "`before`, this tells whether any row remains at or after that cursor."
    )
    async def has_next_page(self) -> bool:
        return await self.next_page_check()

    @strawberry.field(
        description="Whether rows precede this page. Paging forward with "
        "`after`, this tells whether any row remains at or before that cursor."
    )
    async def has_previous_page(self) -> bool:
        return await self.previous_page_check()


@strawberry.type(description="A row of a connection and the cursor of its position.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(
        description="Opaque cursor to pass as `after` or `before`."
    )
    node: NodeT = strawberry.field(description="The record.")


@strawberry.type(description="A page of records with cursors for the next page.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(
        description="The records of the page with their cursors."
    )
    nodes: list[NodeT] = strawberry.field(
        description="The records of the page, in order, without cursors."
    )
    page_info: PageInfo = strawberry.field(
        description="Cursors and neighbours of the page."
    )
    count_rows: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="Number of records that match the filter across all pages. "
        "Costs one COUNT query, which runs only when this field is selected."
    )
    async def total_count(self) -> int:
        return await self.count_rows()


ConnectionT = TypeVar("ConnectionT", bound=Connection)  # type: ignore[type-arg]


def build_connection(
    connection_type: type[ConnectionT],
    page: Page[RowT],
    to_node: Callable[[RowT], NodeT],
) -> ConnectionT:
    """Wrap a fetched page of rows into a connection object."""
    nodes = [to_node(row) for row in page.rows]
    edges = [
        Edge(cursor=cursor, node=node)
        for cursor, node in zip(page.cursors, nodes, strict=True)
    ]
    page_info = PageInfo(
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
        next_page_check=page.has_next_page,
        previous_page_check=page.has_previous_page,
    )
    return connection_type(
        edges=edges, nodes=nodes, page_info=page_info, count_rows=page.total_count
    )


async def resolve_connection(
    info: Info,
    *,
    connection_type: type[ConnectionT],
    connection: str,
    model: type[RowT],
    conditions: Sequence[ColumnElement[bool]],
    order: Sequence[SortKey],
    to_node: Callable[[RowT], NodeT],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionT:
    """Validate the paging arguments, fetch one page and wrap it.

    `connection` names the field in cursors, so that a cursor of one
    connection is rejected by another.
    """
    # NOTE: a nested connection runs this once per parent, so a page of N
    # environments that selects `integratedAccounts` costs N page queries.
    # They run one after the other on `reads`, which bounds the connections
    # that a request checks out but not the number of queries.
    window = read_window(
        first=first,
        after=after,
        last=last,
        before=before,
        connection=connection,
        order=order,
    )
    reads = info.context.reads
    page = await fetch_page(reads, model, conditions, order, window, connection)
    return build_connection(connection_type, page, to_node)
