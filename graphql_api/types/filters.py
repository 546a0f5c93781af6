"""Filter inputs of the list fields.

Within one input object every given condition must hold. `and`, `or` and
`not` combine whole filters. A field left out or set to null adds no
condition. An operator of `StringFilter` set to null is rejected, because
``tenantId: {eq: null}`` reads as "equal to null" but would match every row.
`graphql_api.filters` translates these inputs to SQL.

NOTE: the operators of `IDFilter`, `DateTimeFilter` and `EnumFilter` still
treat null as "no condition", because the event subscriptions in
`graphql_api.subscriptions` read them with the same rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from graphql_api.types.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    SharingPolicy,
    SuperQueryRegion,
)

EnumT = TypeVar("EnumT")


@strawberry.input(
    description="Conditions on a text field. Matching is case-sensitive, and "
    "`startsWith` and `contains` treat every character literally. Leave an "
    "operator out to skip it: an operator set to null is rejected."
)
class StringFilter:
    eq: str | None = strawberry.field(
        default=strawberry.UNSET, description="Equal to this value."
    )
    ne: str | None = strawberry.field(
        default=strawberry.UNSET, description="Not equal to this value."
    )
    in_: list[str] | None = strawberry.field(
        default=strawberry.UNSET, name="in", description="Equal to one of these values."
    )
    not_in: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Equal to none of these values."
    )
    starts_with: str | None = strawberry.field(
        default=strawberry.UNSET, description="Starts with this text."
    )
    contains: str | None = strawberry.field(
        default=strawberry.UNSET, description="Contains this text."
    )


@strawberry.input(description="Conditions on a record id (a UUID).")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(
        default=None, description="Equal to this id."
    )
    in_: list[strawberry.ID] | None = strawberry.field(
        default=None, name="in", description="Equal to one of these ids."
    )


@strawberry.input(
    description="Conditions on a timestamp. Values need a UTC offset, such as "
    "`2024-05-01T12:00:00Z`."
)
class DateTimeFilter:
    eq: datetime | None = strawberry.field(
        default=None, description="At exactly this instant."
    )
    gt: datetime | None = strawberry.field(
        default=None, description="Strictly after this instant."
    )
    gte: datetime | None = strawberry.field(
        default=None, description="At or after this instant."
    )
    lt: datetime | None = strawberry.field(
        default=None, description="Strictly before this instant."
    )
    lte: datetime | None = strawberry.field(
        default=None, description="At or before this instant."
    )


@strawberry.input(description="Conditions on an enum field.")
class EnumFilter(Generic[EnumT]):
    eq: EnumT | None = strawberry.field(
        default=None, description="Equal to this value."
    )
    ne: EnumT | None = strawberry.field(
        default=None,
        description="Not equal to this value; a field without a value matches.",
    )
    in_: list[EnumT] | None = strawberry.field(
        default=None, name="in", description="Equal to one of these values."
    )
    not_in: list[EnumT] | None = strawberry.field(
        default=None,
        description="Equal to none of these values; a field without a value matches.",
    )


@strawberry.input(description="Conditions on an integrated account's status.")
class IntegratedAccountStatusFilter(EnumFilter[IntegratedAccountStatus]):
    pass


@strawberry.input(description="Conditions on an authentication method.")
class AuthenticationMethodFilter(EnumFilter[AuthenticationMethod]):
    pass


@strawberry.input(description="Conditions on a data region.")
class RegionFilter(EnumFilter[Region]):
    pass


@strawberry.input(description="Conditions on a SuperQuery region.")
class SuperQueryRegionFilter(EnumFilter[SuperQueryRegion]):
    pass


@strawberry.input(description="Conditions on an integration's sharing policy.")
class SharingPolicyFilter(EnumFilter[SharingPolicy]):
    pass


_AND = "All of these filters hold."
_OR = "At least one of these filters holds. An empty list matches nothing."
_NOT = "This filter does not hold."


@strawberry.input(
    description="Conditions on integrated accounts. Every given field must hold."
)
class IntegratedAccountFilter:
    id: IDFilter | None = strawberry.field(default=None, description="The account id.")
    tenant_id: StringFilter | None = strawberry.field(
        default=None, description="The customer's tenant id."
    )
    is_sandbox: bool | None = strawberry.field(
        default=None, description="Whether the account is a sandbox."
    )
    integration_id: IDFilter | None = strawberry.field(
        default=None, description="The id of the account's integration."
    )
    integration_name: StringFilter | None = strawberry.field(
        default=None, description="The name of the account's integration."
    )
    integration_category: StringFilter | None = strawberry.field(
        default=None, description="The category of the account's integration."
    )
    environment_id: IDFilter | None = strawberry.field(
        default=None, description="The id of the account's environment."
    )
    environment_integration_id: IDFilter | None = strawberry.field(
        default=None, description="The id of the install the account belongs to."
    )
    super_query: SuperQueryRegionFilter | None = strawberry.field(
        default=None, description="The SuperQuery region; unset on most accounts."
    )
    status: IntegratedAccountStatusFilter | None = strawberry.field(
        default=None, description="The connection status."
    )
    authentication_method: AuthenticationMethodFilter | None = strawberry.field(
        default=None, description="The authentication method; may be unset."
    )
    region: RegionFilter | None = strawberry.field(
        default=None, description="The data region."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the account was created."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the account was last changed."
    )
    and_: list[IntegratedAccountFilter] | None = strawberry.field(
        default=None, name="and", description=_AND
    )
    or_: list[IntegratedAccountFilter] | None = strawberry.field(
        default=None, name="or", description=_OR
    )
    not_: IntegratedAccountFilter | None = strawberry.field(
        default=None, name="not", description=_NOT
    )


@strawberry.input(
    description="Conditions on integrations. Every given field must hold."
)
class IntegrationFilter:
    id: IDFilter | None = strawberry.field(
        default=None, description="The integration id."
    )
    name: StringFilter | None = strawberry.field(
        default=None, description="The integration's unique name within its team."
    )
    category: StringFilter | None = strawberry.field(
        default=None, description="The category, such as `crm`."
    )
    is_beta: bool | None = strawberry.field(
        default=None, description="Whether the integration is in beta."
    )
    sharing: SharingPolicyFilter | None = strawberry.field(
        default=None, description="The sharing policy."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the integration was created."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the integration was last changed."
    )
    and_: list[IntegrationFilter] | None = strawberry.field(
        default=None, name="and", description=_AND
    )
    or_: list[IntegrationFilter] | None = strawberry.field(
        default=None, name="or", description=_OR
    )
    not_: IntegrationFilter | None = strawberry.field(
        default=None, name="not", description=_NOT
    )


@strawberry.input(
    description="Conditions on installed integrations. Every given field must hold."
)
class EnvironmentIntegrationFilter:
    id: IDFilter | None = strawberry.field(default=None, description="The install id.")
    integration_id: IDFilter | None = strawberry.field(
        default=None, description="The id of the installed integration."
    )
    integration_name: StringFilter | None = strawberry.field(
        default=None, description="The name of the installed integration."
    )
    environment_id: IDFilter | None = strawberry.field(
        default=None, description="The id of the environment."
    )
    is_enabled: bool | None = strawberry.field(
        default=None, description="Whether the install is enabled."
    )
    show_in_catalog: bool | None = strawberry.field(
        default=None, description="Whether the install is listed in the catalog."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the integration was installed."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the install was last changed."
    )
    and_: list[EnvironmentIntegrationFilter] | None = strawberry.field(
        default=None, name="and", description=_AND
    )
    or_: list[EnvironmentIntegrationFilter] | None = strawberry.field(
        default=None, name="or", description=_OR
    )
    not_: EnvironmentIntegrationFilter | None = strawberry.field(
        default=None, name="not", description=_NOT
    )


@strawberry.input(
    description="Conditions on environments. Every given field must hold."
)
class EnvironmentFilter:
    id: IDFilter | None = strawberry.field(
        default=None, description="The environment id."
    )
    name: StringFilter | None = strawberry.field(
        default=None, description="The environment's name, unique within its team."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the environment was created."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=None, description="When the environment was last changed."
    )
    and_: list[EnvironmentFilter] | None = strawberry.field(
        default=None, name="and", description=_AND
    )
    or_: list[EnvironmentFilter] | None = strawberry.field(
        default=None, name="or", description=_OR
    )
    not_: EnvironmentFilter | None = strawberry.field(
        default=None, name="not", description=_NOT
    )
