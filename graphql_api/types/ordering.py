"""Order inputs of the list fields and their translation to sort keys.

Each order field's Python value is the model attribute it sorts by. Rows
with equal values keep a stable order by id, in the direction of the last
order field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Protocol

import strawberry

from graphql_api.errors import BadUserInputError
from graphql_api.pagination import KeyKind, SortKey


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("asc", description="Smallest or oldest first.")
    DESC = strawberry.enum_value("desc", description="Largest or newest first.")


_CREATED_AT = "When the record was created."
_UPDATED_AT = "When the record was last changed."
_DIRECTION = "Sort direction; ascending when left out."


@strawberry.enum(description="Fields that integrated accounts can be sorted by.")
class IntegratedAccountOrderField(Enum):
    CREATED_AT = strawberry.enum_value("created_at", description=_CREATED_AT)
    UPDATED_AT = strawberry.enum_value("updated_at", description=_UPDATED_AT)
    TENANT_ID = strawberry.enum_value("tenant_id", description="The tenant id.")
    STATUS = strawberry.enum_value(
        "status",
        description="The status, by its stored lower-case name (`active` first).",
    )


@strawberry.enum(description="Fields that integrations can be sorted by.")
class IntegrationOrderField(Enum):
    CREATED_AT = strawberry.enum_value("created_at", description=_CREATED_AT)
    UPDATED_AT = strawberry.enum_value("updated_at", description=_UPDATED_AT)
    NAME = strawberry.enum_value("name", description="The integration name.")


@strawberry.enum(description="Fields that installed integrations can be sorted by.")
class EnvironmentIntegrationOrderField(Enum):
    CREATED_AT = strawberry.enum_value("created_at", description=_CREATED_AT)
    UPDATED_AT = strawberry.enum_value("updated_at", description=_UPDATED_AT)


@strawberry.enum(description="Fields that environments can be sorted by.")
class EnvironmentOrderField(Enum):
    CREATED_AT = strawberry.enum_value("created_at", description=_CREATED_AT)
    NAME = strawberry.enum_value("name", description="The environment name.")


@strawberry.input(description="One sort key for integrated accounts.")
class IntegratedAccountOrder:
    field_: IntegratedAccountOrderField = strawberry.field(
        name="field", description="The field to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description=_DIRECTION
    )


@strawberry.input(description="One sort key for integrations.")
class IntegrationOrder:
    field_: IntegrationOrderField = strawberry.field(
        name="field", description="The field to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description=_DIRECTION
    )


@strawberry.input(description="One sort key for installed integrations.")
class EnvironmentIntegrationOrder:
    field_: EnvironmentIntegrationOrderField = strawberry.field(
        name="field", description="The field to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description=_DIRECTION
    )


@strawberry.input(description="One sort key for environments.")
class EnvironmentOrder:
    field_: EnvironmentOrderField = strawberry.field(
        name="field", description="The field to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description=_DIRECTION
    )


class OrderInput(Protocol):
    """Interface shared by the order inputs above."""

    @property
    def field_(self) -> Enum: ...

    @property
    def direction(self) -> OrderDirection: ...


# The newest rows come first when a request gives no order.
NEWEST_FIRST = (SortKey("created_at", KeyKind.DATETIME, descending=True),)

KEY_KINDS: Mapping[str, KeyKind] = {
    "created_at": KeyKind.DATETIME,
    "updated_at": KeyKind.DATETIME,
    "tenant_id": KeyKind.STRING,
    "status": KeyKind.STRING,
    "name": KeyKind.STRING,
}


def sort_keys(order_by: Sequence[OrderInput] | None) -> tuple[SortKey, ...]:
    """Turn an `orderBy` argument into sort keys; newest first when empty.

    Raises BadUserInputError when a field appears twice.
    """
    if not order_by:
        return NEWEST_FIRST
    keys: list[SortKey] = []
    for item in order_by:
        attribute = str(item.field_.value)
        if any(key.attribute == attribute for key in keys):
            raise BadUserInputError(
                f"`orderBy` names the field {item.field_.name} twice: list each "
                "field at most once."
            )
        descending = item.direction is OrderDirection.DESC
        keys.append(SortKey(attribute, KEY_KINDS[attribute], descending))
    return tuple(keys)


OrderByDescription = (
    "Sort keys, applied in order; rows with equal keys are ordered by id. "
    "Newest first when left out."
)
