"""The `Mutation` root. Each field takes one `input` and returns a payload.

Expected failures come back in the payload's `userErrors` and change
nothing. Each field runs one write transaction. On SQLite it starts with
``BEGIN IMMEDIATE`` (see `db.session`), so concurrent writers queue for the
write lock instead of failing with "database is locked".
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.context import Info
from graphql_api.mutations import environment_integration as installs
from graphql_api.mutations import integrated_account as accounts
from graphql_api.mutations import integration as integrations
from graphql_api.mutations.common import MutationRejected, log_applied, log_rejected
from graphql_api.mutations.environment_integration import (
    InstallIntegrationInput,
    InstallIntegrationPayload,
    UninstallIntegrationInput,
    UninstallIntegrationPayload,
    UpdateEnvironmentIntegrationInput,
    UpdateEnvironmentIntegrationPayload,
)
from graphql_api.mutations.integrated_account import (
    DeleteIntegratedAccountInput,
    DeleteIntegratedAccountPayload,
    UpdateIntegratedAccountInput,
    UpdateIntegratedAccountPayload,
)
from graphql_api.mutations.integration import (
    CreateIntegrationInput,
    CreateIntegrationPayload,
    DeleteIntegrationInput,
    DeleteIntegrationPayload,
    UpdateIntegrationInput,
    UpdateIntegrationPayload,
)
from graphql_api.types.environment_integration import EnvironmentIntegration
from graphql_api.types.integrated_account import IntegratedAccount
from graphql_api.types.integration import Integration

_INPUT_DESCRIPTION = "The mutation's arguments."


@strawberry.type(description="Writes. Expected failures are returned in `userErrors`.")
class Mutation:
    @strawberry.mutation(
        description="Create an integration of the caller's team. Needs a team token."
    )
    async def create_integration(
        self,
        info: Info,
        input: Annotated[
            CreateIntegrationInput, strawberry.argument(description=_INPUT_DESCRIPTION)
        ],
    ) -> CreateIntegrationPayload:
        context = info.context
        try:
            row = await integrations.create_integration(context, input)
        except MutationRejected as rejected:
            log_rejected("createIntegration", context.request_id, rejected)
            return CreateIntegrationPayload(
                integration=None, user_errors=rejected.errors
            )
        log_applied("createIntegration", context.request_id, row.id)
        context.loaders.integration.prime(row)
        return CreateIntegrationPayload(
            integration=Integration.from_row(row), user_errors=[]
        )

    @strawberry.mutation(
        description="Change an integration of the caller's team; the version "
        "rises by one. Needs a team token and the current `version`."
    )
    async def update_integration(
        self,
        info: Info,
        input: Annotated[
            UpdateIntegrationInput, strawberry.argument(description=_INPUT_DESCRIPTION)
        ],
    ) -> UpdateIntegrationPayload:
        context = info.context
        try:
            row = await integrations.update_integration(context, input)
        except MutationRejected as rejected:
            log_rejected("updateIntegration", context.request_id, rejected)
            return UpdateIntegrationPayload(
                integration=None, user_errors=rejected.errors
            )
        log_applied("updateIntegration", context.request_id, row.id)
        context.loaders.integration.prime(row)
        return UpdateIntegrationPayload(
            integration=Integration.from_row(row), user_errors=[]
        )

    @strawberry.mutation(
        description="Delete an integration of the caller's team with its "
        "installs and their accounts. Needs a team token."
    )
    async def delete_integration(
        self,
        info: Info,
        input: Annotated[
            DeleteIntegrationInput, strawberry.argument(description=_INPUT_DESCRIPTION)
        ],
    ) -> DeleteIntegrationPayload:
        context = info.context
        try:
            (
                deleted_id,
                install_count,
                account_count,
            ) = await integrations.delete_integration(context, input)
        except MutationRejected as rejected:
            log_rejected("deleteIntegration", context.request_id, rejected)
            return DeleteIntegrationPayload(
                deleted_integration_id=None,
                deleted_environment_integration_count=0,
                deleted_integrated_account_count=0,
                user_errors=rejected.errors,
            )
        log_applied("deleteIntegration", context.request_id, deleted_id)
        context.loaders.integration.forget(deleted_id)
        return DeleteIntegrationPayload(
            deleted_integration_id=strawberry.ID(str(deleted_id)),
            deleted_environment_integration_count=install_count,
            deleted_integrated_account_count=account_count,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Install an integration in an environment. Installing it "
        "again returns the existing install unchanged."
    )
    async def install_integration(
        self,
        info: Info,
        input: Annotated[
            InstallIntegrationInput, strawberry.argument(description=_INPUT_DESCRIPTION)
        ],
    ) -> InstallIntegrationPayload:
        context = info.context
        try:
            result = await installs.install_integration(context, input)
        except MutationRejected as rejected:
            log_rejected("installIntegration", context.request_id, rejected)
            return InstallIntegrationPayload(
                environment_integration=None,
                already_installed=False,
                user_errors=rejected.errors,
            )
        log_applied("installIntegration", context.request_id, result.row.id)
        context.loaders.environment_integration.prime(result.row)
        return InstallIntegrationPayload(
            environment_integration=EnvironmentIntegration.from_row(result.row),
            already_installed=result.already_installed,
            user_errors=[],
        )

    @strawberry.mutation(description="Change the flags or the override of an install.")
    async def update_environment_integration(
        self,
        info: Info,
        input: Annotated[
            UpdateEnvironmentIntegrationInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> UpdateEnvironmentIntegrationPayload:
        context = info.context
        try:
            row = await installs.update_environment_integration(context, input)
        except MutationRejected as rejected:
            log_rejected("updateEnvironmentIntegration", context.request_id, rejected)
            return UpdateEnvironmentIntegrationPayload(
                environment_integration=None, user_errors=rejected.errors
            )
        log_applied("updateEnvironmentIntegration", context.request_id, row.id)
        context.loaders.environment_integration.prime(row)
        return UpdateEnvironmentIntegrationPayload(
            environment_integration=EnvironmentIntegration.from_row(row),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Remove an install together with its integrated accounts."
    )
    async def uninstall_integration(
        self,
        info: Info,
        input: Annotated[
            UninstallIntegrationInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> UninstallIntegrationPayload:
        context = info.context
        try:
            deleted_id, account_count = await installs.uninstall_integration(
                context, input
            )
        except MutationRejected as rejected:
            log_rejected("uninstallIntegration", context.request_id, rejected)
            return UninstallIntegrationPayload(
                deleted_environment_integration_id=None,
                deleted_integrated_account_count=0,
                user_errors=rejected.errors,
            )
        log_applied("uninstallIntegration", context.request_id, deleted_id)
        context.loaders.environment_integration.forget(deleted_id)
        return UninstallIntegrationPayload(
            deleted_environment_integration_id=strawberry.ID(str(deleted_id)),
            deleted_integrated_account_count=account_count,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Change the tenant id, the sandbox flag or context keys of "
        "an integrated account."
    )
    async def update_integrated_account(
        self,
        info: Info,
        input: Annotated[
            UpdateIntegratedAccountInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> UpdateIntegratedAccountPayload:
        context = info.context
        try:
            row = await accounts.update_integrated_account(context, input)
        except MutationRejected as rejected:
            log_rejected("updateIntegratedAccount", context.request_id, rejected)
            return UpdateIntegratedAccountPayload(
                integrated_account=None, user_errors=rejected.errors
            )
        log_applied("updateIntegratedAccount", context.request_id, row.id)
        context.loaders.integrated_account.prime(row)
        return UpdateIntegratedAccountPayload(
            integrated_account=IntegratedAccount.from_row(row), user_errors=[]
        )

    @strawberry.mutation(description="Delete an integrated account.")
    async def delete_integrated_account(
        self,
        info: Info,
        input: Annotated[
            DeleteIntegratedAccountInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> DeleteIntegratedAccountPayload:
        context = info.context
        try:
            deleted_id = await accounts.delete_integrated_account(context, input)
        except MutationRejected as rejected:
            log_rejected("deleteIntegratedAccount", context.request_id, rejected)
            return DeleteIntegratedAccountPayload(
                deleted_integrated_account_id=None, user_errors=rejected.errors
            )
        log_applied("deleteIntegratedAccount", context.request_id, deleted_id)
        context.loaders.integrated_account.forget(deleted_id)
        return DeleteIntegratedAccountPayload(
            deleted_integrated_account_id=strawberry.ID(str(deleted_id)),
            user_errors=[],
        )
