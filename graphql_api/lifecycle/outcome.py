"""Status decisions that follow from a lifecycle run's steps.

The sequence is the same for every operation: get a usable token, run
``post_install`` when it is due, then ``validation``. The first failing step
decides the result:

============  ==============================  ==============================
Step          Dead credentials (401,          Other failures
              ``invalid_grant``)
============  ==============================  ==============================
token         NEEDS_REAUTH                    status unchanged
post_install  POST_INSTALL_ERROR              POST_INSTALL_ERROR
validation    NEEDS_REAUTH                    VALIDATION_ERROR
============  ==============================  ==============================

A transient failure (a rate limit, a 5xx, a timeout) leaves the status as it
was. When the account is being created it has no status to keep, so every
failure of post_install gives POST_INSTALL_ERROR and every other failure
gives VALIDATION_ERROR, the two error states that Truto uses for a new
connection. Each failure also becomes a `Problem` for ``userErrors``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from config_engine.errors import AuthenticationError
from db.enums import IntegratedAccountStatus as Status
from graphql_api.lifecycle.errors import Problem, is_transient, step_problem
from graphql_api.lifecycle.run import (
    POST_INSTALL,
    TOKEN_STEP,
    VALIDATION,
    AccountRun,
    StepFailed,
    expired_without_refresh,
)

_STEP_NAMES = {
    TOKEN_STEP: "The token request",
    POST_INSTALL: "The post-install action",
    VALIDATION: "The validation action",
}


class Operation(StrEnum):
    """The lifecycle operations, as stored in ``lease_operation``."""

    CREATE = "create"
    REAUTHORIZE = "reauthorize"
    RECONNECT = "reconnect"
    REVALIDATE = "revalidate"
    BULK_REVALIDATE = "bulk_revalidate"
    UPDATE_CREDENTIALS = "update_credentials"


class TokenPolicy(StrEnum):
    """Rule for getting a new token before the actions run."""

    ALWAYS = "always"
    """Refresh whenever the engine can, as reauthorize does."""
    IF_EXPIRED = "if_expired"
    """Refresh only a token that has expired or is about to."""
    FETCH = "fetch"
    """Fetch a client-credentials token, as a connect or reconnect does."""


@dataclass(slots=True)
class Outcome:
    """The result of a run's steps.

    `status` is None when the run leaves the status as it was. `last_error`
    is the new ``last_error`` when `status` is set, and None clears it.
    """

    status: Status | None
    last_error: str | None
    problems: list[Problem] = field(default_factory=list)
    failure: StepFailed | None = None


async def run_steps(
    run: AccountRun,
    *,
    creating: bool,
    token_policy: TokenPolicy,
    post_install: bool,
    on_token: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Run the token step, post_install (when `post_install`) and validation.

    `on_token` is awaited after a new token arrived and before the actions
    run, so that the caller can store the token at once.
    """
    try:
        previous_token = run.token
        await _token_step(run, token_policy)
        if run.token is not previous_token and on_token is not None:
            await on_token()
        if post_install:
            await run.run_action(POST_INSTALL)
        await run.run_action(VALIDATION)
    except StepFailed as failed:
        return failure_outcome(failed, creating=creating)
    return Outcome(status=Status.ACTIVE, last_error=None)


async def _token_step(run: AccountRun, policy: TokenPolicy) -> None:
    scheme = run.target.scheme
    if policy is TokenPolicy.FETCH and scheme is not None:
        if scheme.uses_client_credentials:
            await run.fetch_token()
        return
    if not run.can_refresh:
        return
    client_credentials = scheme is not None and scheme.uses_client_credentials
    custom = run.has_action("refresh_token")
    if not client_credentials and not custom and not run.has_refresh_token():
        # Without a refresh token only an unexpired access token can work.
        if run.token_expired():
            raise expired_without_refresh(run)
        return
    if policy is TokenPolicy.ALWAYS or run.token_expired():
        await run.refresh()


def failure_outcome(failed: StepFailed, *, creating: bool) -> Outcome:
    """Decide the status after `failed`, following the table in the module doc."""
    problem = step_problem(_STEP_NAMES.get(failed.step, failed.step), failed.error)
    status = _failure_status(failed, creating=creating)
    last_error = problem.message if status is not None else None
    return Outcome(status, last_error, [problem], failed)


def _failure_status(failed: StepFailed, *, creating: bool) -> Status | None:
    if failed.step == POST_INSTALL:
        if is_transient(failed.error) and not creating:
            return None
        return Status.POST_INSTALL_ERROR
    if creating:
        return Status.VALIDATION_ERROR
    if is_transient(failed.error):
        return None
    if isinstance(failed.error, AuthenticationError):
        return Status.NEEDS_REAUTH
    if failed.step == TOKEN_STEP:
        return None
    return Status.VALIDATION_ERROR
