"""Mutations of the account lifecycle: connect, reauthorize, revalidate.

Each resolver checks the shape of its input, calls
`graphql_api.lifecycle.LifecycleService` and turns its problems into
``userErrors``. Unlike the other mutations, a payload can carry both the
account and user errors: a run that stored a result (say, VALIDATION_ERROR
after a 401) returns the account in its new state together with the error
that explains it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

import strawberry
from sqlmodel import col

from db import models
from graphql_api.context import Info, RequestContext
from graphql_api.errors import BadUserInputError
from graphql_api.filters import integrated_account_condition
from graphql_api.lifecycle import NewAccount, RunResult, service_for
from graphql_api.lifecycle.bulk import BulkRevalidation
from graphql_api.lifecycle.errors import LifecycleRejected, Problem
from graphql_api.mutations.common import (
    MutationRejected,
    UserError,
    UserErrorCode,
    log_applied,
    log_rejected,
)
from graphql_api.mutations.validation import (
    bad_input,
    object_errors,
    parse_record_id,
    raise_if_any,
    text_errors,
)
from graphql_api.scalars import JSON
from graphql_api.types.enums import (
    AuthenticationMethod,
    IntegratedAccountStatus,
    Region,
    stored_value,
)
from graphql_api.types.filters import IntegratedAccountFilter
from graphql_api.types.integrated_account import IntegratedAccount

MAX_TENANT_ID_LENGTH = 500
_INPUT_DESCRIPTION = "The mutation's arguments."
_ACCOUNT_AFTER_RUN = (
    "The account after the operation; null when nothing was stored. It can "
    "come with `userErrors` that explain its new status."
)
_USER_ERRORS = (
    "Why the operation was rejected or what its upstream steps met; empty on "
    "full success."
)


@strawberry.input(description="A new integrated account and its credentials.")
class CreateIntegratedAccountInput:
    environment_integration_id: strawberry.ID = strawberry.field(
        description="The install to connect through."
    )
    tenant_id: str = strawberry.field(
        description="The customer's own id for this connection."
    )
    context: JSON = strawberry.field(
        description='Credentials and variables, such as `{"api_key": ...}` or '
        '`{"oauth": {"token": {"access_token": ..., "refresh_token": ..., '
        '"expires_in": 3600}}}`. Checked against the integration\'s declared '
        "credential fields."
    )
    authentication_method: AuthenticationMethod | None = strawberry.field(
        default=None,
        description="How it authenticates; the integration's credentials format "
        "when left out.",
    )
    region: Region | None = strawberry.field(
        default=None, description="Data region; WNAM when left out."
    )
    is_sandbox: bool = strawberry.field(
        default=False,
        description="Whether it connects to a sandbox, where only reads are sent.",
    )


@strawberry.input(description="The account to reauthorize, and optional credentials.")
class ReauthorizeIntegratedAccountInput:
    id: strawberry.ID = strawberry.field(description="The account id.")
    credentials: JSON | None = strawberry.field(
        default=None,
        description="New credentials that replace the stored ones (a reconnect). "
        "Left out, the stored token is refreshed instead.",
    )
    replace_context: bool = strawberry.field(
        default=False,
        description="With `credentials`, replace the whole context instead of "
        "only its credentials.",
    )


@strawberry.input(description="The account to revalidate.")
class RevalidateIntegratedAccountInput:
    id: strawberry.ID = strawberry.field(description="The account id.")
    rerun_post_install: bool = strawberry.field(
        default=False,
        description="Run the post-install action again too. It always runs for "
        "accounts in CONNECTING or POST_INSTALL_ERROR.",
    )


@strawberry.input(description="Which accounts to revalidate.")
class RevalidateIntegratedAccountsInput:
    filter: IntegratedAccountFilter | None = strawberry.field(
        default=None,
        description="Only accounts that match; every account the token may "
        "read when left out.",
    )


@strawberry.input(description="Credential keys to merge into an account's context.")
class UpdateIntegratedAccountCredentialsInput:
    id: strawberry.ID = strawberry.field(description="The account id.")
    credentials: JSON = strawberry.field(
        description="Credential keys only: `oauth` (its `token` merges key by "
        "key), keys named like a secret such as `api_key`, and the "
        "integration's password fields. A null value removes the key."
    )


@strawberry.type(description="Result of an operation on one integrated account.")
class IntegratedAccountLifecyclePayload:
    integrated_account: IntegratedAccount | None = strawberry.field(
        description=_ACCOUNT_AFTER_RUN
    )
    user_errors: list[UserError] = strawberry.field(description=_USER_ERRORS)


@strawberry.type(description="Number of accounts that ended in one status.")
class IntegratedAccountStatusCount:
    status: IntegratedAccountStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="Number of accounts.")


@strawberry.type(description="Number of accounts whose run met one kind of error.")
class UserErrorCodeCount:
    code: UserErrorCode = strawberry.field(description="The error code.")
    count: int = strawberry.field(description="Number of accounts.")


@strawberry.type(description="Result of `revalidateIntegratedAccounts`.")
class RevalidateIntegratedAccountsPayload:
    matched_count: int = strawberry.field(
        description="Accounts that matched the filter."
    )
    revalidated_count: int = strawberry.field(
        description="Accounts whose revalidation ran to its end."
    )
    skipped_count: int = strawberry.field(
        description="Accounts skipped because another lifecycle run held them."
    )
    status_counts: list[IntegratedAccountStatusCount] = strawberry.field(
        description="The revalidated accounts by status after the run."
    )
    error_counts: list[UserErrorCodeCount] = strawberry.field(
        description="The errors that the runs met, by code. An account whose "
        "run met a transient error (RATE_LIMITED, UPSTREAM_UNAVAILABLE) keeps "
        "its status."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing ran, such as an invalid filter; empty otherwise."
    )


def _user_error(problem: Problem) -> UserError:
    return UserError(
        field=list(problem.field) if problem.field else None,
        message=problem.message,
        code=UserErrorCode[problem.code],
    )


async def _account_operation(
    info: Info,
    mutation: str,
    operation: Callable[[RequestContext], Awaitable[RunResult]],
) -> IntegratedAccountLifecyclePayload:
    """Run one account operation and build its payload."""
    context = info.context
    try:
        result = await operation(context)
    except MutationRejected as rejected:
        log_rejected(mutation, context.request_id, rejected)
        return IntegratedAccountLifecyclePayload(
            integrated_account=None, user_errors=rejected.errors
        )
    except LifecycleRejected as rejected:
        errors = [_user_error(problem) for problem in rejected.problems]
        log_rejected(mutation, context.request_id, MutationRejected(errors))
        return IntegratedAccountLifecyclePayload(
            integrated_account=None, user_errors=errors
        )
    log_applied(mutation, context.request_id, result.account.id)
    context.loaders.integrated_account.prime(result.account)
    return IntegratedAccountLifecyclePayload(
        integrated_account=IntegratedAccount.from_row(result.account),
        user_errors=[_user_error(problem) for problem in result.problems],
    )


def _json_object(value: Any, *field: str) -> Mapping[str, Any]:
    raise_if_any(object_errors(value, *field))
    mapping: Mapping[str, Any] = value
    return mapping


async def _create(
    context: RequestContext, data: CreateIntegratedAccountInput
) -> RunResult:
    install_id = parse_record_id(
        data.environment_integration_id, "input", "environmentIntegrationId"
    )
    raise_if_any(
        text_errors(
            data.tenant_id, "input", "tenantId", max_length=MAX_TENANT_ID_LENGTH
        )
    )
    account_context = _json_object(data.context, "input", "context")
    new_account = NewAccount(
        environment_integration_id=install_id,
        tenant_id=data.tenant_id,
        context=account_context,
        authentication_method=(
            stored_value(data.authentication_method)
            if data.authentication_method
            else None
        ),
        region=stored_value(data.region) if data.region else None,
        is_sandbox=data.is_sandbox,
    )
    service = service_for(context.database)
    return await service.create(context.principal, new_account)


async def _reauthorize(
    context: RequestContext, data: ReauthorizeIntegratedAccountInput
) -> RunResult:
    account_id = parse_record_id(data.id, "input", "id")
    credentials = (
        None
        if data.credentials is None
        else _json_object(data.credentials, "input", "credentials")
    )
    service = service_for(context.database)
    return await service.reauthorize(
        context.principal,
        account_id,
        credentials,
        replace_context=data.replace_context,
    )


async def _revalidate(
    context: RequestContext, data: RevalidateIntegratedAccountInput
) -> RunResult:
    account_id = parse_record_id(data.id, "input", "id")
    service = service_for(context.database)
    return await service.revalidate(
        context.principal, account_id, rerun_post_install=data.rerun_post_install
    )


async def _update_credentials(
    context: RequestContext, data: UpdateIntegratedAccountCredentialsInput
) -> RunResult:
    account_id = parse_record_id(data.id, "input", "id")
    credentials = _json_object(data.credentials, "input", "credentials")
    service = service_for(context.database)
    return await service.update_credentials(context.principal, account_id, credentials)


def _counts_payload(
    matched: int,
    revalidated: int,
    skipped: int,
    status_counts: Mapping[str, int],
    problem_counts: Mapping[str, int],
) -> RevalidateIntegratedAccountsPayload:
    return RevalidateIntegratedAccountsPayload(
        matched_count=matched,
        revalidated_count=revalidated,
        skipped_count=skipped,
        status_counts=[
            IntegratedAccountStatusCount(
                status=IntegratedAccountStatus(status), count=count
            )
            for status, count in sorted(status_counts.items())
        ],
        error_counts=[
            UserErrorCodeCount(code=UserErrorCode[code], count=count)
            for code, count in sorted(problem_counts.items())
        ],
        user_errors=[],
    )


def _rejected_bulk(errors: Sequence[UserError]) -> RevalidateIntegratedAccountsPayload:
    return RevalidateIntegratedAccountsPayload(
        matched_count=0,
        revalidated_count=0,
        skipped_count=0,
        status_counts=[],
        error_counts=[],
        user_errors=list(errors),
    )


@strawberry.type(description="Lifecycle mutations, merged into `Mutation`.")
class LifecycleMutation:
    @strawberry.mutation(
        description="Connect a new integrated account. It is stored as "
        "CONNECTING, its post-install and validation actions run, and it ends "
        "ACTIVE, POST_INSTALL_ERROR or VALIDATION_ERROR. Credentials are "
        "checked, and a client-credentials token fetched, before anything is "
        "stored."
    )
    async def create_integrated_account(
        self,
        info: Info,
        input: Annotated[
            CreateIntegratedAccountInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> IntegratedAccountLifecyclePayload:
        return await _account_operation(
            info,
            "createIntegratedAccount",
            lambda context: _create(context, input),
        )

    @strawberry.mutation(
        description="Refresh an account's credentials (OAuth refresh or "
        "client-credentials grant, or the integration's refresh_token action), "
        "or replace them with `credentials`, then validate it. Dead credentials "
        "end in NEEDS_REAUTH. A transient upstream failure keeps the status and "
        "is reported in `userErrors`. Concurrent calls on one account refresh "
        "once, and each caller gets the result."
    )
    async def reauthorize_integrated_account(
        self,
        info: Info,
        input: Annotated[
            ReauthorizeIntegratedAccountInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> IntegratedAccountLifecyclePayload:
        return await _account_operation(
            info,
            "reauthorizeIntegratedAccount",
            lambda context: _reauthorize(context, input),
        )

    @strawberry.mutation(
        description="Run an account's validation action again, refreshing an "
        "expired token first, and its post-install action when asked or still "
        "due."
    )
    async def revalidate_integrated_account(
        self,
        info: Info,
        input: Annotated[
            RevalidateIntegratedAccountInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> IntegratedAccountLifecyclePayload:
        return await _account_operation(
            info,
            "revalidateIntegratedAccount",
            lambda context: _revalidate(context, input),
        )

    @strawberry.mutation(
        description="Revalidate every matching account in the token's "
        "environments, with a bounded number of upstream requests per "
        "integration at once, and return counts by resulting status."
    )
    async def revalidate_integrated_accounts(
        self,
        info: Info,
        input: Annotated[
            RevalidateIntegratedAccountsInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> RevalidateIntegratedAccountsPayload:
        context = info.context
        try:
            condition = integrated_account_condition(input.filter, context.dialect)
        except BadUserInputError as error:
            rejected = MutationRejected([bad_input(error.message, "input", "filter")])
            log_rejected("revalidateIntegratedAccounts", context.request_id, rejected)
            return _rejected_bulk(rejected.errors)
        conditions = [
            context.principal.in_environments(
                col(models.IntegratedAccount.environment_id)
            ),
            condition,
        ]
        bulk = BulkRevalidation(service_for(context.database))
        result = await bulk.run(conditions)
        log_applied(
            "revalidateIntegratedAccounts", context.request_id, bulk.lease.lease_id
        )
        return _counts_payload(
            result.matched,
            result.revalidated,
            result.skipped,
            result.status_counts,
            result.problem_counts,
        )

    @strawberry.mutation(
        description="Merge credential keys into an account's context, as "
        "Truto's credentials endpoint does, without calling the upstream."
    )
    async def update_integrated_account_credentials(
        self,
        info: Info,
        input: Annotated[
            UpdateIntegratedAccountCredentialsInput,
            strawberry.argument(description=_INPUT_DESCRIPTION),
        ],
    ) -> IntegratedAccountLifecyclePayload:
        return await _account_operation(
            info,
            "updateIntegratedAccountCredentials",
            lambda context: _update_credentials(context, input),
        )
