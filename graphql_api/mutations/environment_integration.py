"""Mutations of installs: install, update and uninstall an integration."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import strawberry
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db import models
from db.types import utc_now
from graphql_api.context import RequestContext
from graphql_api.lifecycle.events import add_deleted_events
from graphql_api.mutations.common import MutationRejected, UserError, not_found
from graphql_api.mutations.merge import merge_patch
from graphql_api.mutations.validation import (
    bad_input,
    not_null_errors,
    object_errors,
    override_errors,
    parse_record_id,
    raise_if_any,
)
from graphql_api.scalars import JSON
from graphql_api.types.environment_integration import EnvironmentIntegration


@strawberry.input(description="The integration to install and where.")
class InstallIntegrationInput:
    integration_id: strawberry.ID = strawberry.field(
        description="The integration: the team's own, or another team's shared "
        "with ALLOW."
    )
    environment_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="The environment. Required with a team token; an environment "
        "token installs into its own environment.",
    )
    is_enabled: bool = strawberry.field(
        default=True, description="Whether accounts may use the install."
    )
    show_in_catalog: bool = strawberry.field(
        default=True, description="Whether the catalog lists the install."
    )
    override: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Changes to the config for this environment, validated as "
        "an override.",
    )


@strawberry.input(description="Changes to an install. Left-out fields stay.")
class UpdateEnvironmentIntegrationInput:
    id: strawberry.ID = strawberry.field(description="The install id.")
    is_enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="New enabled flag."
    )
    show_in_catalog: bool | None = strawberry.field(
        default=strawberry.UNSET, description="New catalog flag."
    )
    override: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="A JSON merge patch (RFC 7396) for the override: objects "
        "merge recursively, a null value removes its key, and other values "
        "replace. Keys left out, secrets included, stay as they are.",
    )


@strawberry.input(description="The install to remove.")
class UninstallIntegrationInput:
    id: strawberry.ID = strawberry.field(description="The install id.")


@strawberry.type(description="Result of `installIntegration`.")
class InstallIntegrationPayload:
    environment_integration: EnvironmentIntegration | None = strawberry.field(
        description="The install, new or existing; null when `userErrors` is not empty."
    )
    already_installed: bool = strawberry.field(
        description="True when the integration was installed before; the "
        "existing install is returned unchanged."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was installed; empty on success."
    )


@strawberry.type(description="Result of `updateEnvironmentIntegration`.")
class UpdateEnvironmentIntegrationPayload:
    environment_integration: EnvironmentIntegration | None = strawberry.field(
        description="The install after the change; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="Result of `uninstallIntegration`.")
class UninstallIntegrationPayload:
    deleted_environment_integration_id: strawberry.ID | None = strawberry.field(
        description="Id of the removed install; null when `userErrors` is not empty."
    )
    deleted_integrated_account_count: int = strawberry.field(
        description="Number of integrated accounts removed with it."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was removed; empty on success."
    )


@dataclass(frozen=True, slots=True)
class InstallResult:
    """The install that `install_integration` returns."""

    row: models.EnvironmentIntegration
    already_installed: bool


async def install_integration(
    context: RequestContext, data: InstallIntegrationInput
) -> InstallResult:
    """Install a readable integration in one of the caller's environments.

    Installing again returns the existing install unchanged, so that a
    retried request does no harm.
    """
    integration_id = parse_record_id(data.integration_id, "input", "integrationId")
    environment_id = _target_environment(context, data.environment_id)
    override = _install_override(data.override)
    try:
        return await _install(context, integration_id, environment_id, override, data)
    except IntegrityError:
        # A concurrent request installed it first; return that install.
        async with context.database.write_session() as session:
            existing = await _existing_install(session, integration_id, environment_id)
        if existing is None:
            raise
        return InstallResult(existing, already_installed=True)


def _target_environment(
    context: RequestContext, environment_id: str | None
) -> uuid.UUID:
    token_environment = context.principal.environment_id
    if environment_id is strawberry.UNSET or environment_id is None:
        if token_environment is None:
            message = (
                "`environmentId` is required with a team token: name the "
                "environment to install into."
            )
            raise MutationRejected([bad_input(message, "input", "environmentId")])
        return token_environment
    return parse_record_id(environment_id, "input", "environmentId")


def _install_override(override: object) -> dict[str, Any]:
    """Validate the override of a new install; left out or null means none."""
    if override is strawberry.UNSET or override is None:
        return {}
    raise_if_any(object_errors(override, "input", "override"))
    assert isinstance(override, dict)
    raise_if_any(override_errors(override, "input", "override"))
    return override


async def _install(
    context: RequestContext,
    integration_id: uuid.UUID,
    environment_id: uuid.UUID,
    override: dict[str, Any],
    data: InstallIntegrationInput,
) -> InstallResult:
    principal = context.principal
    async with context.database.write_session() as session:
        environment = await session.scalar(
            select(models.Environment).where(
                col(models.Environment.id) == environment_id,
                principal.visible_environments(),
            )
        )
        if environment is None:
            raise not_found("environment", environment_id, "input", "environmentId")
        integration = await session.scalar(
            select(models.Integration).where(
                col(models.Integration.id) == integration_id,
                principal.visible_integrations(),
            )
        )
        if integration is None:
            raise not_found("integration", integration_id, "input", "integrationId")
        existing = await _existing_install(session, integration_id, environment_id)
        if existing is not None:
            return InstallResult(existing, already_installed=True)
        row = models.EnvironmentIntegration(
            integration_id=integration_id,
            environment_id=environment_id,
            is_enabled=data.is_enabled,
            show_in_catalog=data.show_in_catalog,
            override=override,
        )
        session.add(row)
    return InstallResult(row, already_installed=False)


async def _existing_install(
    session: AsyncSession, integration_id: uuid.UUID, environment_id: uuid.UUID
) -> models.EnvironmentIntegration | None:
    query = select(models.EnvironmentIntegration).where(
        col(models.EnvironmentIntegration.integration_id) == integration_id,
        col(models.EnvironmentIntegration.environment_id) == environment_id,
    )
    return (await session.scalars(query)).first()


async def _visible_install(
    session: AsyncSession, context: RequestContext, install_id: uuid.UUID
) -> models.EnvironmentIntegration:
    # Locked, so that concurrent override merges do not lose each other's keys.
    query = (
        select(models.EnvironmentIntegration)
        .where(
            col(models.EnvironmentIntegration.id) == install_id,
            context.principal.visible_environment_integrations(),
        )
        .with_for_update()
    )
    row = (await session.scalars(query)).first()
    if row is None:
        raise not_found("environment integration", install_id, "input", "id")
    return row


async def update_environment_integration(
    context: RequestContext, data: UpdateEnvironmentIntegrationInput
) -> models.EnvironmentIntegration:
    """Change the flags or the override of an install."""
    install_id = parse_record_id(data.id, "input", "id")
    errors: list[UserError] = []
    if data.is_enabled is not strawberry.UNSET:
        errors += not_null_errors(data.is_enabled, "input", "isEnabled")
    if data.show_in_catalog is not strawberry.UNSET:
        errors += not_null_errors(data.show_in_catalog, "input", "showInCatalog")
    if data.override is not strawberry.UNSET:
        errors += object_errors(data.override, "input", "override")
    raise_if_any(errors)
    async with context.database.write_session() as session:
        row = await _visible_install(session, context, install_id)
        before = (row.is_enabled, row.show_in_catalog, row.override)
        if data.is_enabled is not strawberry.UNSET:
            row.is_enabled = bool(data.is_enabled)
        if data.show_in_catalog is not strawberry.UNSET:
            row.show_in_catalog = bool(data.show_in_catalog)
        if data.override is not strawberry.UNSET:
            merged = merge_patch(row.override, data.override)
            raise_if_any(override_errors(merged, "input", "override"))
            row.override = merged
        # Values equal to the stored ones are a no-op that keeps `updated_at`.
        if (row.is_enabled, row.show_in_catalog, row.override) != before:
            row.updated_at = utc_now()
            session.add(row)
    return row


async def uninstall_integration(
    context: RequestContext, data: UninstallIntegrationInput
) -> tuple[uuid.UUID, int]:
    """Remove an install and its integrated accounts.

    Returns the install id and the number of accounts removed.
    """
    install_id = parse_record_id(data.id, "input", "id")
    async with context.database.write_session() as session:
        row = await _visible_install(session, context, install_id)
        installed_here = col(models.IntegratedAccount.environment_integration_id) == (
            row.id
        )
        await add_deleted_events(session, installed_here)
        accounts = await session.execute(
            delete(models.IntegratedAccount).where(installed_here)
        )
        await session.delete(row)
    return row.id, accounts.rowcount  # type: ignore[attr-defined]
