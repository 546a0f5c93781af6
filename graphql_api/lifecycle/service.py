"""The lifecycle service: connect, reauthorize, revalidate and update accounts.

Each operation follows the same steps. It checks the input and loads the
account with its configs. It claims the account's lease in a short write
transaction (see `graphql_api.lifecycle.lease`), runs the upstream steps
outside any transaction (`graphql_api.lifecycle.outcome`), and writes the
result with the lease released and the event recorded
(`graphql_api.lifecycle.store`).

A caller that finds the lease held waits for it. Reauthorize and revalidate
then return the account as the other run left it, so that two concurrent
refreshes reach the token endpoint once. A reconnect and a credential update
wait and then make their own change.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from config_engine.engine import Engine
from db import models
from db.enums import AuthenticationMethod, Region
from db.enums import IntegratedAccountStatus as Status
from db.session import Database
from db.types import utc_now
from graphql_api.auth import Principal
from graphql_api.lifecycle import lease as leases
from graphql_api.lifecycle.credentials import (
    merge_credentials,
    normalize_token,
    replace_credentials,
)
from graphql_api.lifecycle.errors import (
    LifecycleRejected,
    Problem,
    ProblemCode,
    not_found,
    reject,
    step_problem,
)
from graphql_api.lifecycle.lease import Lease, LeaseKeeper
from graphql_api.lifecycle.outcome import Operation, Outcome, TokenPolicy, run_steps
from graphql_api.lifecycle.run import AccountRun, RunTarget, StepFailed
from graphql_api.lifecycle.store import (
    Finish,
    LoadedAccount,
    checkpoint_token,
    finish_run,
    insert_account,
    load_account,
    load_install,
    store_context,
)
from graphql_api.lifecycle.targets import authentication, checked_context, effective
from graphql_api.secrets import mark_context_secrets
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.lifecycle")

# Maximum number of upstream connections of the shared HTTP client.
MAX_CONNECTIONS = 200
# Statuses whose post-install action has not succeeded yet, so every run
# tries it again.
_POST_INSTALL_DUE = frozenset({Status.CONNECTING, Status.POST_INSTALL_ERROR})


@dataclass(frozen=True, slots=True)
class NewAccount:
    """The checked input of `LifecycleService.create`."""

    environment_integration_id: uuid.UUID
    tenant_id: str
    context: Mapping[str, Any]
    authentication_method: str | None = None
    region: str | None = None
    is_sandbox: bool = False


@dataclass(slots=True)
class RunResult:
    """The account after an operation and the problems its run met."""

    account: models.IntegratedAccount
    problems: list[Problem] = field(default_factory=list)


class LifecycleService:
    """Runs lifecycle operations for one database, with one shared HTTP client.

    Call `close` when the application stops. The HTTP client is created on
    first use, inside the event loop that uses it.
    """

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._ssl_context: ssl.SSLContext | None = None

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts without renewal, in seconds."""
        return self.settings.lifecycle_lease_seconds

    @property
    def wait_timeout(self) -> float:
        """How long a caller waits for another run's lease, in seconds."""
        return 2 * self.settings.lifecycle_lease_seconds

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client that the single-account operations share."""
        if self._client is None:
            self._client = self.new_client(max_connections=MAX_CONNECTIONS)
        return self._client

    def new_client(self, *, max_connections: int) -> httpx.AsyncClient:
        """Return a new HTTP client; the caller closes it.

        Every client shares one TLS context, because loading the CA
        certificates takes far longer than the rest of a client's setup.
        """
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._ssl_context,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
            ),
        )

    def engine(self) -> Engine:
        """Return a config engine that sends through the shared client."""
        return Engine(client=self.client)

    async def close(self) -> None:
        """Close the shared HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- create ---------------------------------------------------------------

    async def create(self, principal: Principal, data: NewAccount) -> RunResult:
        """Connect a new account: store it as CONNECTING, then run its steps.

        The credential fields are checked, and a client-credentials token is
        fetched, before anything is stored. Raises LifecycleRejected then. The
        run ends ACTIVE, POST_INSTALL_ERROR or VALIDATION_ERROR.
        """
        install = await load_install(
            self.database, principal, data.environment_integration_id
        )
        if install is None:
            raise not_found(
                "environment integration",
                data.environment_integration_id,
                "input",
                "environmentIntegrationId",
            )
        _check_enabled(install.row)
        config = effective(install.configs)
        method, scheme = authentication(
            config, data.authentication_method, from_input=True
        )
        context, expires_at = checked_context(scheme, data.context, "input", "context")
        target = RunTarget(config, scheme, method, data.is_sandbox)
        run = AccountRun(self.engine(), target, context)
        await _prefetch_token(run)

        lease = Lease(leases.new_lease_id(), Operation.CREATE, self.lease_seconds)
        account = await insert_account(
            self.database,
            _new_row(install.row, data, method, run, expires_at),
            lease,
            install.configs,
        )
        logger.info(
            "account_created account_id=%s environment_integration_id=%s",
            account.id,
            install.row.id,
        )
        outcome = await self._run(
            account.id, lease, run, creating=True, post_install=True
        )
        finish = Finish(Operation.CREATE)
        return await self._finish(account.id, lease, run, outcome, finish)

    # -- reauthorize ----------------------------------------------------------

    async def reauthorize(
        self,
        principal: Principal,
        account_id: uuid.UUID,
        credentials: Mapping[str, Any] | None = None,
        *,
        replace_context: bool = False,
    ) -> RunResult:
        """Get working credentials for an account, then validate it.

        Without `credentials` the engine refreshes the token. With them, they
        replace the stored credentials (a reconnect), and with
        `replace_context` they replace the whole context.
        """
        loaded = await self._load(principal, account_id)
        if credentials is None:
            return await self._refresh_and_validate(principal, loaded)
        return await self._reconnect(loaded, credentials, replace_context)

    async def _refresh_and_validate(
        self, principal: Principal, loaded: LoadedAccount
    ) -> RunResult:
        lease = await self._join_or_claim(loaded.row.id, Operation.REAUTHORIZE)
        if lease is None:
            return RunResult(await self._reload(principal, loaded.row.id))
        return await self._check(
            loaded, lease, TokenPolicy.ALWAYS, rerun_post_install=False
        )

    async def _reconnect(
        self,
        loaded: LoadedAccount,
        credentials: Mapping[str, Any],
        replace_context: bool,
    ) -> RunResult:
        config = effective(loaded.configs)
        method, scheme = authentication(config, loaded.row.authentication_method)
        lease = await self._claim(loaded.row.id, Operation.RECONNECT)
        try:
            current = await self._load_held(loaded)
            base = {} if replace_context else current.row.context
            replaced = replace_credentials(
                base,
                credentials,
                loaded.configs.integration,
                loaded.configs.override,
            )
            context, expires_at = checked_context(
                scheme, replaced, "input", "credentials"
            )
        except BaseException:
            await leases.release(self.database, lease)
            raise
        target = RunTarget(config, scheme, method, current.row.is_sandbox)
        run = AccountRun(self.engine(), target, context)
        outcome = await self._run(
            loaded.row.id,
            lease,
            run,
            token_policy=TokenPolicy.FETCH,
            post_install=Status(current.row.status) in _POST_INSTALL_DUE,
        )
        finish = Finish(
            Operation.RECONNECT,
            replace_context=True,
            user_change=True,
            credentials_expire_at=expires_at,
        )
        return await self._finish(loaded.row.id, lease, run, outcome, finish)

    # -- revalidate -----------------------------------------------------------

    async def revalidate(
        self,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        rerun_post_install: bool = False,
    ) -> RunResult:
        """Run validation again, and post-install when asked or still due.

        An expired token is refreshed first.
        """
        loaded = await self._load(principal, account_id)
        lease = await self._join_or_claim(account_id, Operation.REVALIDATE)
        if lease is None:
            return RunResult(await self._reload(principal, account_id))
        return await self._check(
            loaded, lease, TokenPolicy.IF_EXPIRED, rerun_post_install
        )

    async def _check(
        self,
        loaded: LoadedAccount,
        lease: Lease,
        token_policy: TokenPolicy,
        rerun_post_install: bool,
    ) -> RunResult:
        try:
            current = await self._load_held(loaded)
            config = effective(loaded.configs)
            method, scheme = authentication(config, current.row.authentication_method)
        except BaseException:
            await leases.release(self.database, lease)
            raise
        target = RunTarget(config, scheme, method, current.row.is_sandbox)
        run = AccountRun(self.engine(), target, dict(current.row.context))
        due = Status(current.row.status) in _POST_INSTALL_DUE
        outcome = await self._run(
            current.row.id,
            lease,
            run,
            token_policy=token_policy,
            post_install=rerun_post_install or due,
        )
        finish = Finish(lease.operation)
        return await self._finish(current.row.id, lease, run, outcome, finish)

    # -- credentials ------------------------------------------------------------

    async def update_credentials(
        self,
        principal: Principal,
        account_id: uuid.UUID,
        credentials: Mapping[str, Any],
    ) -> RunResult:
        """Merge credential keys into the context without calling upstream.

        Keys that are not credentials are rejected. Records
        ``integrated_account:updated`` when the context changed. Credentials
        equal to the stored ones are a no-op that writes nothing, so
        ``updated_at`` stays too.
        """
        loaded = await self._load(principal, account_id)
        merged, problems = merge_credentials(
            loaded.row.context,
            credentials,
            loaded.configs.integration,
            loaded.configs.override,
        )
        if problems:
            raise LifecycleRejected(problems)
        lease = await self._claim(account_id, Operation.UPDATE_CREDENTIALS)
        try:
            current = await self._load_held(loaded)
            merged, _ = merge_credentials(
                current.row.context,
                credentials,
                loaded.configs.integration,
                loaded.configs.override,
            )
            unchanged = merged == current.row.context
            context, expires_at = normalize_token(merged, utc_now())
            context = mark_context_secrets(
                context, loaded.configs.integration, loaded.configs.override
            )
        except BaseException:
            await leases.release(self.database, lease)
            raise
        if unchanged:
            # The check runs before `normalize_token`, because that adds
            # `expires_at` to a stored token that lacks it.
            await leases.release(self.database, lease)
            return RunResult(current.row)
        if expires_at is None:
            expires_at = current.row.credentials_expire_at
        row = await store_context(self.database, account_id, lease, context, expires_at)
        return RunResult(_required(row, account_id))

    # -- shared steps ---------------------------------------------------------

    async def _load(self, principal: Principal, account_id: uuid.UUID) -> LoadedAccount:
        loaded = await load_account(self.database, account_id, principal)
        if loaded is None:
            raise not_found("integrated account", account_id, "input", "id")
        return loaded

    async def _reload(
        self, principal: Principal, account_id: uuid.UUID
    ) -> models.IntegratedAccount:
        return (await self._load(principal, account_id)).row

    async def _load_held(self, loaded: LoadedAccount) -> LoadedAccount:
        """Read the account again now that this run holds its lease.

        The row read before the claim may predate another run's changes. The
        caller already saw the account, so no visibility check is repeated.
        """
        current = await load_account(self.database, loaded.row.id, principal=None)
        if current is None:
            raise not_found("integrated account", loaded.row.id, "input", "id")
        return current

    async def _join_or_claim(
        self, account_id: uuid.UUID, operation: Operation
    ) -> Lease | None:
        """Claim the account's lease, or return None after another run's end.

        A run that finished while this caller waited left a result as fresh as
        this run's would be, so the caller returns that result instead.
        """
        return await self._claim_waiting(account_id, operation, join=True)

    async def _claim(self, account_id: uuid.UUID, operation: Operation) -> Lease:
        """Claim the account's lease, waiting while another run holds it."""
        lease = await self._claim_waiting(account_id, operation, join=False)
        if lease is None:
            raise RuntimeError("a claim without join returned no lease")
        return lease

    async def _claim_waiting(
        self, account_id: uuid.UUID, operation: Operation, *, join: bool
    ) -> Lease | None:
        """Claim the lease, waiting with backoff while a live run holds it.

        With `join`, returns None once the other run has released the lease.
        A lease that expired instead belongs to a stopped process, so it is
        claimed. Raises LifecycleRejected with ACCOUNT_BUSY when the lease
        stays held for `wait_timeout` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        while True:
            lease = await leases.claim(
                self.database, account_id, operation, self.lease_seconds
            )
            if lease is not None:
                return lease
            remaining = deadline - loop.time()
            state = await leases.wait_for_lease(self.database, account_id, remaining)
            if state is None:
                raise _busy(account_id, self.wait_timeout)
            if join and state.lease_id is None:
                logger.info(
                    "lifecycle_run_joined account_id=%s operation=%s",
                    account_id,
                    operation,
                )
                return None

    async def _run(
        self,
        account_id: uuid.UUID,
        lease: Lease,
        run: AccountRun,
        *,
        creating: bool = False,
        token_policy: TokenPolicy = TokenPolicy.IF_EXPIRED,
        post_install: bool,
    ) -> Outcome:
        async def store_token() -> None:
            await checkpoint_token(self.database, account_id, lease, run)

        async with LeaseKeeper(self.database, lease):
            return await run_steps(
                run,
                creating=creating,
                token_policy=token_policy,
                post_install=post_install,
                on_token=store_token,
            )

    async def _finish(
        self,
        account_id: uuid.UUID,
        lease: Lease,
        run: AccountRun,
        outcome: Outcome,
        finish: Finish,
    ) -> RunResult:
        row = await finish_run(self.database, account_id, lease, run, outcome, finish)
        logger.info(
            "lifecycle_run_finished account_id=%s operation=%s status=%s problems=%s",
            account_id,
            finish.operation,
            row.status if row else None,
            ",".join(problem.code for problem in outcome.problems) or None,
        )
        return RunResult(_required(row, account_id), outcome.problems)


def _required(
    row: models.IntegratedAccount | None, account_id: uuid.UUID
) -> models.IntegratedAccount:
    if row is None:
        raise reject(
            ProblemCode.ACCOUNT_BUSY,
            f"Integrated account {str(account_id)!r} was deleted or taken over by "
            "another run while this one ran: read it again.",
            "input",
            "id",
        )
    return row


def _busy(account_id: uuid.UUID, waited: float) -> LifecycleRejected:
    return reject(
        ProblemCode.ACCOUNT_BUSY,
        f"Another lifecycle run still holds integrated account "
        f"{str(account_id)!r} after {waited:g} s: retry later.",
        "input",
        "id",
    )


def _check_enabled(install: models.EnvironmentIntegration) -> None:
    if not install.is_enabled:
        raise reject(
            ProblemCode.BAD_USER_INPUT,
            f"Environment integration {str(install.id)!r} is disabled: enable it "
            "with updateEnvironmentIntegration before connecting accounts.",
            "input",
            "environmentIntegrationId",
        )


async def _prefetch_token(run: AccountRun) -> None:
    scheme = run.target.scheme
    if scheme is None or not scheme.uses_client_credentials:
        return
    try:
        await run.fetch_token()
    except StepFailed as failed:
        problem = step_problem("The token request", failed.error)
        raise LifecycleRejected([problem]) from failed


def _new_row(
    install: models.EnvironmentIntegration,
    data: NewAccount,
    method: str | None,
    run: AccountRun,
    expires_at: Any,
) -> models.IntegratedAccount:
    known_methods = {item.value for item in AuthenticationMethod}
    # A credentials format outside the stored enum, if a config names one,
    # leaves the column empty rather than failing the insert.
    stored_method = AuthenticationMethod(method) if method in known_methods else None
    token = run.token
    return models.IntegratedAccount(
        tenant_id=data.tenant_id,
        environment_id=install.environment_id,
        environment_integration_id=install.id,
        integration_id=install.integration_id,
        context=dict(run.context),
        status=Status.CONNECTING,
        is_sandbox=data.is_sandbox,
        authentication_method=stored_method,
        region=Region(data.region) if data.region else Region.WNAM,
        credentials_expire_at=token.expires_at if token else expires_at,
        last_refreshed_at=run.refreshed_at,
    )
