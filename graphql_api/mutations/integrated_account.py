"""Mutations of integrated accounts: update and delete."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db import models
from db.types import utc_now
from graphql_api.context import RequestContext
from graphql_api.lifecycle.events import EventType, add_account_event
from graphql_api.mutations.common import UserError, not_found
from graphql_api.mutations.merge import merge_context
from graphql_api.mutations.validation import (
    not_null_errors,
    object_errors,
    parse_record_id,
    raise_if_any,
    text_errors,
)
from graphql_api.scalars import JSON
from graphql_api.types.integrated_account import IntegratedAccount

MAX_TENANT_ID_LENGTH = 500


@strawberry.input(description="Changes to an integrated account. Left-out fields stay.")
class UpdateIntegratedAccountInput:
    id: strawberry.ID = strawberry.field(description="The account id.")
    tenant_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="New tenant id."
    )
    is_sandbox: bool | None = strawberry.field(
        default=strawberry.UNSET, description="New sandbox flag."
    )
    context: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Context keys to set. Each top-level key replaces the stored "
        "one, and a null value removes it. Credentials inside a replaced object "
        "stay unless the new object sets them, and keys left out stay as they are.",
    )


@strawberry.input(description="The integrated account to delete.")
class DeleteIntegratedAccountInput:
    id: strawberry.ID = strawberry.field(description="The account id.")


@strawberry.type(description="Result of `updateIntegratedAccount`.")
class UpdateIntegratedAccountPayload:
    integrated_account: IntegratedAccount | None = strawberry.field(
        description="The account after the change; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="Result of `deleteIntegratedAccount`.")
class DeleteIntegratedAccountPayload:
    deleted_integrated_account_id: strawberry.ID | None = strawberry.field(
        description="Id of the deleted account; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was deleted; empty on success."
    )


async def _visible_account(
    session: AsyncSession, context: RequestContext, account_id: uuid.UUID
) -> models.IntegratedAccount:
    """Load and lock an account in the caller's environments, or raise NOT_FOUND.

    The row lock (FOR UPDATE on PostgreSQL; SQLite's write transaction
    already excludes other writers) keeps concurrent context merges from
    losing each other's keys.
    """
    query = (
        select(models.IntegratedAccount)
        .where(
            col(models.IntegratedAccount.id) == account_id,
            context.principal.in_environments(
                col(models.IntegratedAccount.environment_id)
            ),
        )
        .with_for_update()
    )
    row = (await session.scalars(query)).first()
    if row is None:
        raise not_found("integrated account", account_id, "input", "id")
    return row


def _update_input_errors(data: UpdateIntegratedAccountInput) -> list[UserError]:
    errors: list[UserError] = []
    if data.tenant_id is not strawberry.UNSET:
        errors += text_errors(
            data.tenant_id, "input", "tenantId", max_length=MAX_TENANT_ID_LENGTH
        )
    if data.is_sandbox is not strawberry.UNSET:
        errors += not_null_errors(data.is_sandbox, "input", "isSandbox")
    if data.context is not strawberry.UNSET:
        errors += object_errors(data.context, "input", "context")
    return errors


async def update_integrated_account(
    context: RequestContext, data: UpdateIntegratedAccountInput
) -> models.IntegratedAccount:
    """Change the tenant id, the sandbox flag or context keys of an account.

    An update that leaves every value as stored is a no-op, so it keeps
    ``updated_at`` and records no ``integrated_account:updated`` event.
    """
    account_id = parse_record_id(data.id, "input", "id")
    raise_if_any(_update_input_errors(data))
    async with context.database.write_session() as session:
        row = await _visible_account(session, context, account_id)
        before = (row.tenant_id, row.is_sandbox, row.context)
        if data.tenant_id is not strawberry.UNSET:
            row.tenant_id = str(data.tenant_id)
        if data.is_sandbox is not strawberry.UNSET:
            row.is_sandbox = bool(data.is_sandbox)
        if data.context is not strawberry.UNSET:
            row.context = await _merged_context(session, row, data.context)
        if (row.tenant_id, row.is_sandbox, row.context) != before:
            row.updated_at = utc_now()
            session.add(row)
            await add_account_event(session, row, EventType.UPDATED)
    return row


async def _merged_context(
    session: AsyncSession, row: models.IntegratedAccount, patch: Any
) -> dict[str, Any]:
    # The integration's password fields count as credentials too.
    integration = await session.get(models.Integration, row.integration_id)
    install = await session.get(
        models.EnvironmentIntegration, row.environment_integration_id
    )
    return merge_context(
        row.context,
        patch,
        integration.config if integration else None,
        install.override if install else None,
    )


async def delete_integrated_account(
    context: RequestContext, data: DeleteIntegratedAccountInput
) -> uuid.UUID:
    """Delete an integrated account and return its id."""
    account_id = parse_record_id(data.id, "input", "id")
    async with context.database.write_session() as session:
        row = await _visible_account(session, context, account_id)
        await add_account_event(session, row, EventType.DELETED)
        await session.delete(row)
    return row.id
