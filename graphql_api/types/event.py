"""The `IntegratedAccountEvent` type, its filter and the lists of events.

Events are read-only records of account lifecycle changes (see
`graphql_api.lifecycle.events`). They are scoped by environment like
accounts, and they stay readable after their account is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import ColumnElement, and_, true
from sqlmodel import col

from db import models
from graphql_api.context import Info
from graphql_api.filters import datetime_condition, enum_condition, id_condition
from graphql_api.lifecycle.events import EventType
from graphql_api.scalars import JSON
from graphql_api.secrets import redact_value
from graphql_api.types.connection import (
    After,
    Before,
    Connection,
    First,
    Last,
    resolve_connection,
)
from graphql_api.types.filters import DateTimeFilter, EnumFilter, IDFilter
from graphql_api.types.node import require_row
from graphql_api.types.ordering import OrderDirection, sort_keys

if TYPE_CHECKING:
    from graphql_api.types.environment import Environment
    from graphql_api.types.integrated_account import IntegratedAccount


@strawberry.enum(
    description="Kinds of integrated account events. An event's `name` field "
    "gives Truto's spelling, such as `integrated_account:created`."
)
class IntegratedAccountEventType(Enum):
    CREATED = strawberry.enum_value(
        EventType.CREATED.value, description="The account was connected."
    )
    UPDATED = strawberry.enum_value(
        EventType.UPDATED.value,
        description="Its data or credentials changed while its status stayed.",
    )
    ACTIVE = strawberry.enum_value(
        EventType.ACTIVE.value, description="It became active and ready to use."
    )
    POST_INSTALL_ERROR = strawberry.enum_value(
        EventType.POST_INSTALL_ERROR.value,
        description="Its post-install action failed.",
    )
    VALIDATION_ERROR = strawberry.enum_value(
        EventType.VALIDATION_ERROR.value,
        description="Its validation action failed.",
    )
    AUTHENTICATION_ERROR = strawberry.enum_value(
        EventType.AUTHENTICATION_ERROR.value,
        description="The upstream rejected its credentials, or a token refresh "
        "failed for good; it needs reauthorization.",
    )
    REACTIVATED = strawberry.enum_value(
        EventType.REACTIVATED.value,
        description="It went from NEEDS_REAUTH back to ACTIVE without a reconnect.",
    )
    DELETED = strawberry.enum_value(
        EventType.DELETED.value, description="It was deleted."
    )


@strawberry.type(
    description="A change in an integrated account's lifecycle, recorded when "
    "it happened."
)
class IntegratedAccountEvent:
    id: strawberry.ID = strawberry.field(description="The event's UUID.")
    type: IntegratedAccountEventType = strawberry.field(description="Kind of event.")
    name: str = strawberry.field(
        description="Truto's name of the event, such as `integrated_account:active`."
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    integrated_account_id: strawberry.ID | None = strawberry.field(
        description="Id of the account; the account itself may be deleted."
    )
    environment_id: strawberry.ID = strawberry.field(
        description="Id of the account's environment."
    )
    integration_id: strawberry.ID | None = strawberry.field(
        description="Id of the account's integration."
    )
    row: strawberry.Private[models.Event]

    @classmethod
    def from_row(cls, row: models.Event) -> IntegratedAccountEvent:
        """Build the GraphQL object of an `event` row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            type=IntegratedAccountEventType(row.type),
            name=row.type,
            created_at=row.created_at,
            integrated_account_id=_optional_id(row.integrated_account_id),
            environment_id=strawberry.ID(str(row.environment_id)),
            integration_id=_optional_id(row.integration_id),
            row=row,
        )

    @strawberry.field(
        description="The account as it was right after the event, as JSON with "
        "snake_case keys. Credentials are left out."
    )
    def account(self) -> JSON:
        return JSON(redact_value(self.row.payload))

    @strawberry.field(
        description="The account as it is now; null once it has been deleted."
    )
    async def integrated_account(
        self, info: Info
    ) -> (
        Annotated[
            IntegratedAccount, strawberry.lazy("graphql_api.types.integrated_account")
        ]
        | None
    ):
        from graphql_api.types.integrated_account import IntegratedAccount

        if self.row.integrated_account_id is None:
            return None
        row = await info.context.loaders.integrated_account.load(
            self.row.integrated_account_id
        )
        return IntegratedAccount.from_row(row) if row is not None else None

    @strawberry.field(description="The account's environment.")
    async def environment(
        self, info: Info
    ) -> Annotated[Environment, strawberry.lazy("graphql_api.types.environment")]:
        from graphql_api.types.environment import Environment

        row_id = self.row.environment_id
        row = await info.context.loaders.environment.load(row_id)
        return Environment.from_row(require_row(row, "environment", row_id))


def _optional_id(value: object) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="A page of integrated account events.")
class IntegratedAccountEventConnection(Connection[IntegratedAccountEvent]):
    pass


@strawberry.input(description="Conditions on an event's type.")
class IntegratedAccountEventTypeFilter(EnumFilter[IntegratedAccountEventType]):
    pass


@strawberry.input(
    description="Conditions on integrated account events. Every given field must hold."
)
class IntegratedAccountEventFilter:
    type: IntegratedAccountEventTypeFilter | None = strawberry.field(
        default=None, description="The event's type."
    )
    integrated_account_id: IDFilter | None = strawberry.field(
        default=None, description="The account's id."
    )
    environment_id: IDFilter | None = strawberry.field(
        default=None, description="The environment's id."
    )
    integration_id: IDFilter | None = strawberry.field(
        default=None, description="The integration's id."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the event happened."
    )


@strawberry.enum(description="Fields that events can be sorted by.")
class IntegratedAccountEventOrderField(Enum):
    CREATED_AT = strawberry.enum_value(
        "created_at", description="When the event happened."
    )


@strawberry.input(description="One sort key for integrated account events.")
class IntegratedAccountEventOrder:
    field_: IntegratedAccountEventOrderField = strawberry.field(
        name="field", description="The field to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC,
        description="Sort direction; ascending when left out.",
    )


EventFilterArgument = Annotated[
    IntegratedAccountEventFilter | None,
    strawberry.argument(description="Only events that match this filter."),
]
EventOrderArgument = Annotated[
    list[IntegratedAccountEventOrder] | None,
    strawberry.argument(
        description="Sort keys; events at the same instant are ordered by id. "
        "Newest first when left out."
    ),
]


def event_condition(
    condition: IntegratedAccountEventFilter | None,
) -> ColumnElement[bool]:
    """Translate an event filter into a SQL condition."""
    if condition is None:
        return true()
    event = models.Event
    parts: list[ColumnElement[bool]] = []
    if condition.type is not None:
        parts.append(enum_condition(col(event.type), condition.type))
    if condition.integrated_account_id is not None:
        parts.append(
            id_condition(
                col(event.integrated_account_id), condition.integrated_account_id
            )
        )
    if condition.environment_id is not None:
        parts.append(id_condition(col(event.environment_id), condition.environment_id))
    if condition.integration_id is not None:
        parts.append(id_condition(col(event.integration_id), condition.integration_id))
    if condition.created_at is not None:
        parts.append(datetime_condition(col(event.created_at), condition.created_at))
    return and_(true(), *parts)


async def list_events(
    info: Info,
    *,
    connection: str,
    scope: Sequence[ColumnElement[bool]] = (),
    filter: IntegratedAccountEventFilter | None,
    order_by: Sequence[IntegratedAccountEventOrder] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> IntegratedAccountEventConnection:
    """Fetch one page of the events in the caller's environments."""
    conditions = [
        info.context.principal.in_environments(col(models.Event.environment_id)),
        *scope,
        event_condition(filter),
    ]
    return await resolve_connection(
        info,
        connection_type=IntegratedAccountEventConnection,
        connection=connection,
        model=models.Event,
        conditions=conditions,
        order=sort_keys(order_by),
        to_node=IntegratedAccountEvent.from_row,
        first=first,
        after=after,
        last=last,
        before=before,
    )


@strawberry.type
class EventQuery:
    """The root `events` field, merged into `Query` by `graphql_api.schema`."""

    @strawberry.field(
        description="Integrated account events in the environments that the "
        "token may read, including events of deleted accounts."
    )
    async def events(
        self,
        info: Info,
        filter: EventFilterArgument = None,
        order_by: EventOrderArgument = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> IntegratedAccountEventConnection:
        return await list_events(
            info,
            connection="events",
            filter=filter,
            order_by=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


async def resolve_account_events(
    root: Any,
    info: Info,
    filter: EventFilterArgument = None,
    order_by: EventOrderArgument = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> IntegratedAccountEventConnection:
    """Resolve `IntegratedAccount.events`: the events of one account."""
    account_id = root.row.id
    return await list_events(
        info,
        connection="IntegratedAccount.events",
        scope=[col(models.Event.integrated_account_id) == account_id],
        filter=filter,
        order_by=order_by,
        first=first,
        after=after,
        last=last,
        before=before,
    )


def add_events_field(account_type: type[Any]) -> None:
    """Add the `events` connection field to the `IntegratedAccount` type.

    Strawberry has no public way to extend an object type declared in another
    module, so the field is appended to the type's strawberry definition. Call
    it before the schema is built. A second call changes nothing.
    """
    definition = account_type.__strawberry_definition__
    if any(field.python_name == "events" for field in definition.fields):
        return
    events_field = strawberry.field(
        resolver=resolve_account_events,
        description="Events of this account, newest first unless ordered.",
    )
    events_field.python_name = "events"
    events_field.origin = account_type
    definition.fields.append(events_field)
