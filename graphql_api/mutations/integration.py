"""Mutations of integrations: create, update and delete.

Integrations belong to a team, so only a team token of the owning team may
change them. Any token may read another team's shared integration but gets
FORBIDDEN when it tries to change it.
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db import models
from db.types import utc_now
from graphql_api.context import RequestContext
from graphql_api.lifecycle.events import add_deleted_events
from graphql_api.mutations.common import (
    MutationRejected,
    UserError,
    UserErrorCode,
    not_found,
    reject,
)
from graphql_api.mutations.merge import merge_patch
from graphql_api.mutations.validation import (
    config_errors,
    not_null_errors,
    object_errors,
    parse_record_id,
    raise_if_any,
    text_errors,
)
from graphql_api.scalars import JSON
from graphql_api.types.enums import SharingPolicy, stored_value
from graphql_api.types.integration import Integration

MAX_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 100


@strawberry.input(description="A new integration of the caller's team.")
class CreateIntegrationInput:
    name: str = strawberry.field(description="Name, unique within the team.")
    category: str = strawberry.field(description="Category, such as `crm`.")
    config: JSON = strawberry.field(
        description="The config object, validated before it is stored."
    )
    is_beta: bool = strawberry.field(default=False, description="Mark it as beta.")
    sharing: SharingPolicy = strawberry.field(
        default=SharingPolicy.DENY,
        description="Whether other teams may see and install it.",
    )


@strawberry.input(description="Changes to an integration. Left-out fields stay.")
class UpdateIntegrationInput:
    id: strawberry.ID = strawberry.field(description="The integration id.")
    version: int = strawberry.field(
        description="The version the change is based on, as last read. A "
        "different current version rejects the change with VERSION_CONFLICT."
    )
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="New name, unique within the team."
    )
    category: str | None = strawberry.field(
        default=strawberry.UNSET, description="New category."
    )
    is_beta: bool | None = strawberry.field(
        default=strawberry.UNSET, description="New beta flag."
    )
    sharing: SharingPolicy | None = strawberry.field(
        default=strawberry.UNSET, description="New sharing policy."
    )
    config: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="A JSON merge patch (RFC 7396) for the config: objects merge "
        "recursively, a null value removes its key, and other values replace. "
        "Keys left out, secrets included, stay as they are.",
    )


@strawberry.input(description="The integration to delete.")
class DeleteIntegrationInput:
    id: strawberry.ID = strawberry.field(description="The integration id.")


@strawberry.type(description="Result of `createIntegration`.")
class CreateIntegrationPayload:
    integration: Integration | None = strawberry.field(
        description="The new integration; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was created; empty on success."
    )


@strawberry.type(description="Result of `updateIntegration`.")
class UpdateIntegrationPayload:
    integration: Integration | None = strawberry.field(
        description="The integration after the change; null when `userErrors` "
        "is not empty."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="Result of `deleteIntegration`.")
class DeleteIntegrationPayload:
    deleted_integration_id: strawberry.ID | None = strawberry.field(
        description="Id of the deleted integration; null when `userErrors` is "
        "not empty."
    )
    deleted_environment_integration_count: int = strawberry.field(
        description="Number of installs deleted with it."
    )
    deleted_integrated_account_count: int = strawberry.field(
        description="Number of integrated accounts deleted with it."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was deleted; empty on success."
    )


def _require_team_token(context: RequestContext) -> None:
    if not context.principal.can_write_integrations:
        raise reject(
            UserErrorCode.FORBIDDEN,
            "An environment token cannot change integrations, which belong to "
            "the whole team: use a team token.",
        )


async def create_integration(
    context: RequestContext, data: CreateIntegrationInput
) -> models.Integration:
    """Validate and insert a new integration of the caller's team."""
    _require_team_token(context)
    raise_if_any(
        [
            *text_errors(data.name, "input", "name", max_length=MAX_NAME_LENGTH),
            *text_errors(
                data.category, "input", "category", max_length=MAX_CATEGORY_LENGTH
            ),
            *_config_input_errors(data.config),
        ]
    )
    row = models.Integration(
        team_id=context.principal.team_id,
        name=data.name,
        category=data.category,
        is_beta=data.is_beta,
        sharing=stored_value(data.sharing),
        config=dict(data.config),  # type: ignore[call-overload]
    )
    try:
        async with context.database.write_session() as session:
            await _check_name_free(session, context.principal.team_id, data.name)
            session.add(row)
    except IntegrityError:
        # Another request took the name between the check and the insert.
        raise _name_taken(data.name) from None
    return row


def _config_input_errors(config: Any) -> list[UserError]:
    errors = object_errors(config, "input", "config")
    if errors:
        return errors
    return config_errors(config, "input", "config")


async def _check_name_free(
    session: AsyncSession,
    team_id: uuid.UUID,
    name: str,
    exclude_id: uuid.UUID | None = None,
) -> None:
    query = select(col(models.Integration.id)).where(
        col(models.Integration.team_id) == team_id,
        col(models.Integration.name) == name,
    )
    if exclude_id is not None:
        query = query.where(col(models.Integration.id) != exclude_id)
    if (await session.scalars(query)).first() is not None:
        raise _name_taken(name)


def _name_taken(name: str) -> MutationRejected:
    return reject(
        UserErrorCode.ALREADY_EXISTS,
        f"The team already has an integration named {name!r}: choose another name.",
        "input",
        "name",
    )


async def update_integration(
    context: RequestContext, data: UpdateIntegrationInput
) -> models.Integration:
    """Apply an update to an integration of the caller's team.

    The version check and the write happen in one transaction, which holds
    the row (SQLite's write lock, PostgreSQL's FOR UPDATE) until it commits.
    """
    integration_id = parse_record_id(data.id, "input", "id")
    raise_if_any(_update_input_errors(data))
    try:
        async with context.database.write_session() as session:
            row = await _owned_integration(session, context, integration_id, lock=True)
            _check_version(row, data.version)
            await _apply_update(session, row, data)
    except IntegrityError:
        raise _name_taken(str(data.name)) from None
    return row


def _update_input_errors(data: UpdateIntegrationInput) -> list[UserError]:
    errors: list[UserError] = []
    if data.name is not strawberry.UNSET:
        errors += text_errors(data.name, "input", "name", max_length=MAX_NAME_LENGTH)
    if data.category is not strawberry.UNSET:
        errors += text_errors(
            data.category, "input", "category", max_length=MAX_CATEGORY_LENGTH
        )
    if data.is_beta is not strawberry.UNSET:
        errors += not_null_errors(data.is_beta, "input", "isBeta")
    if data.sharing is not strawberry.UNSET:
        errors += not_null_errors(data.sharing, "input", "sharing")
    if data.config is not strawberry.UNSET:
        errors += object_errors(data.config, "input", "config")
    return errors


async def _owned_integration(
    session: AsyncSession,
    context: RequestContext,
    integration_id: uuid.UUID,
    *,
    lock: bool = False,
) -> models.Integration:
    """Load an integration that the caller's team owns, for a change.

    Raises NOT_FOUND when the token may not read it and FORBIDDEN when it
    may read it but not change it.
    """
    query = select(models.Integration).where(
        col(models.Integration.id) == integration_id,
        context.principal.visible_integrations(),
    )
    if lock:
        query = query.with_for_update()
    row = (await session.scalars(query)).first()
    if row is None:
        raise not_found("integration", integration_id, "input", "id")
    if row.team_id != context.principal.team_id:
        raise reject(
            UserErrorCode.FORBIDDEN,
            f"Integration {str(integration_id)!r} belongs to another team, which "
            "shares it read-only: install it, or ask the owner to change it.",
            "input",
            "id",
        )
    _require_team_token(context)
    return row


def _check_version(row: models.Integration, version: int) -> None:
    if row.version != version:
        raise reject(
            UserErrorCode.VERSION_CONFLICT,
            f"Integration {str(row.id)!r} is at version {row.version}, not "
            f"{version}: read it again, reapply the change and send the new "
            "version.",
            "input",
            "version",
        )


async def _apply_update(
    session: AsyncSession, row: models.Integration, data: UpdateIntegrationInput
) -> None:
    if data.name is not strawberry.UNSET and data.name != row.name:
        await _check_name_free(session, row.team_id, str(data.name), exclude_id=row.id)
        row.name = str(data.name)
    if data.category is not strawberry.UNSET:
        row.category = str(data.category)
    if data.is_beta is not strawberry.UNSET:
        row.is_beta = bool(data.is_beta)
    if isinstance(data.sharing, SharingPolicy):
        row.sharing = stored_value(data.sharing)
    if data.config is not strawberry.UNSET:
        merged = merge_patch(row.config, data.config)
        raise_if_any(config_errors(merged, "input", "config"))
        row.config = merged
    row.version += 1
    row.updated_at = utc_now()
    session.add(row)


async def delete_integration(
    context: RequestContext, data: DeleteIntegrationInput
) -> tuple[uuid.UUID, int, int]:
    """Delete an integration of the caller's team with its installs and accounts.

    Returns the id and the numbers of installs and accounts deleted. Raises
    FORBIDDEN while another team has it installed, because deleting it
    would delete that team's accounts.
    """
    integration_id = parse_record_id(data.id, "input", "id")
    async with context.database.write_session() as session:
        row = await _owned_integration(session, context, integration_id, lock=True)
        await _check_not_installed_elsewhere(session, row)
        of_integration = col(models.IntegratedAccount.integration_id) == row.id
        await add_deleted_events(session, of_integration)
        accounts = await session.execute(
            delete(models.IntegratedAccount).where(of_integration)
        )
        installs = await session.execute(
            delete(models.EnvironmentIntegration).where(
                col(models.EnvironmentIntegration.integration_id) == row.id
            )
        )
        await session.delete(row)
    return row.id, installs.rowcount, accounts.rowcount  # type: ignore[attr-defined]


async def _check_not_installed_elsewhere(
    session: AsyncSession, row: models.Integration
) -> None:
    foreign_environments = select(col(models.Environment.id)).where(
        col(models.Environment.team_id) != row.team_id
    )
    query = select(func.count()).where(
        col(models.EnvironmentIntegration.integration_id) == row.id,
        col(models.EnvironmentIntegration.environment_id).in_(
            foreign_environments.scalar_subquery()
        ),
    )
    installed = int(await session.scalar(query) or 0)
    if installed:
        raise reject(
            UserErrorCode.FORBIDDEN,
            f"Integration {str(row.id)!r} is installed in {installed} "
            "environment(s) of other teams, and deleting it would delete their "
            "accounts: set its sharing to DENY so that no team installs it again, "
            "and delete it once those teams have uninstalled it.",
            "input",
            "id",
        )
