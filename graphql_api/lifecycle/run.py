"""The upstream half of a lifecycle run: tokens and actions, without the database.

`AccountRun` works on a copy of one account's context. It fetches or
refreshes the OAuth token and runs the ``post_install`` and ``validation``
actions through the config engine. It records every step for the account's
``last_action_result``. It also notes which top-level context keys it
changed, so that the result can be merged into the stored context later.

A failing step raises `StepFailed`, which names the step and carries the
engine error. Deciding what the failure means for the account's status is
`graphql_api.lifecycle.outcome`'s job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from config_engine.actions import ActionRun
from config_engine.engine import Engine
from config_engine.errors import AuthenticationError, EngineError
from config_engine.http import request_variables
from config_engine.oauth import CredentialUpdate, token_endpoint, token_expiry
from db.types import utc_now
from graphql_api.lifecycle.credentials import CredentialScheme, stored_token

# A token that expires within this margin is refreshed before it is used.
EXPIRY_MARGIN = timedelta(seconds=60)

POST_INSTALL = "post_install"
VALIDATION = "validation"
REFRESH_ACTION = "refresh_token"
TOKEN_STEP = "token"


class StepFailed(Exception):
    """Raised when a lifecycle step fails; `step` is ``token`` or an action name."""

    def __init__(self, step: str, error: EngineError) -> None:
        super().__init__(f"{step} failed: {error.message}")
        self.step = step
        self.error = error


@dataclass(frozen=True, slots=True)
class RunTarget:
    """An account's identity and configs, as one run needs them.

    `config` is the effective config (the integration config with the
    install's override merged in). `scheme` is the credential block in use,
    or None for an integration without credentials.
    """

    config: Mapping[str, Any]
    scheme: CredentialScheme | None
    authentication_method: str | None
    is_sandbox: bool


@dataclass
class AccountRun:
    """The upstream work of one lifecycle run on one account."""

    engine: Engine
    target: RunTarget
    context: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    changed_keys: set[str] = field(default_factory=set)
    token: CredentialUpdate | None = None
    refreshed_at: datetime | None = None
    validated_at: datetime | None = None
    started_at: datetime = field(default_factory=utc_now)

    # -- questions ----------------------------------------------------------

    def has_action(self, name: str) -> bool:
        """Tell whether the integration configures the action `name`."""
        actions = self.target.config.get("actions")
        return isinstance(actions, Mapping) and name in actions

    @property
    def can_refresh(self) -> bool:
        """Whether the engine can get a new token for this account."""
        scheme = self.target.scheme
        uses_oauth = scheme is not None and scheme.uses_oauth
        return uses_oauth or self.has_action(REFRESH_ACTION)

    def token_expires_at(self) -> datetime | None:
        """When the stored access token expires, or None when unknown."""
        token = stored_token(self.context)
        if token is None:
            return None
        return token_expiry(token, utc_now())

    def token_expired(self, now: datetime | None = None) -> bool:
        """Tell whether the token has expired or expires within `EXPIRY_MARGIN`."""
        expires_at = self.token_expires_at()
        if expires_at is None:
            return False
        return expires_at <= (now or utc_now()) + EXPIRY_MARGIN

    def has_refresh_token(self) -> bool:
        """Tell whether the context stores a refresh token."""
        token = stored_token(self.context) or {}
        value = token.get("refresh_token") or self.context.get("refresh_token")
        return isinstance(value, str) and bool(value)

    # -- steps --------------------------------------------------------------

    async def fetch_token(self) -> None:
        """Fetch a token with the client-credentials grant and store it."""
        await self._token_step(
            "oauth2_client_credentials",
            self.engine.fetch_client_credentials_token(
                self.target.config,
                self.context,
                authentication_method=self.target.authentication_method,
            ),
            refresh=False,
        )

    async def refresh(self) -> None:
        """Get a new access token through the engine and store it.

        Raises StepFailed with an AuthenticationError at once when an OAuth
        token that cannot be refreshed has expired, because only a reconnect
        can help then.
        """
        custom = self.has_action(REFRESH_ACTION)
        kind = REFRESH_ACTION if custom else "refresh"
        await self._token_step(
            kind,
            self.engine.refresh_credentials(
                self.target.config,
                self.context,
                authentication_method=self.target.authentication_method,
            ),
            refresh=True,
        )

    async def _token_step(self, kind: str, call: Any, *, refresh: bool) -> None:
        started = time.perf_counter()
        try:
            update: CredentialUpdate = await call
        except EngineError as error:
            self._record_token_step(kind, started, refresh, error)
            raise StepFailed(TOKEN_STEP, error) from error
        self._record_token_step(kind, started, refresh, None)
        self.context = update.apply_to(self.context)
        self.changed_keys.add("oauth")
        self.token = update
        self.refreshed_at = utc_now()

    def _record_token_step(
        self, kind: str, started: float, refresh: bool, error: EngineError | None
    ) -> None:
        self.steps.append(
            {
                "action": TOKEN_STEP,
                "index": 0,
                "type": kind,
                "name": None,
                "outcome": "error" if error else "ok",
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "request_method": "POST",
                "request_path": self._token_path(refresh),
                "status": getattr(error, "status", None),
                "error": error.message if error else None,
            }
        )

    def _token_path(self, refresh: bool) -> str | None:
        scheme = self.target.scheme
        if scheme is None or not scheme.uses_oauth:
            return None
        block = _lookup(self.target.config, scheme.path)
        variables = request_variables(
            self.context,
            environment_variables=self.target.config.get("environment_variables"),
        )
        try:
            endpoint = token_endpoint(
                block.get("config") or {}, variables, refresh=refresh, path=scheme.path
            )
        except EngineError:
            return None
        return urlsplit(endpoint.url).path or "/"

    async def run_action(self, name: str) -> bool:
        """Run the action `name` if it is configured; return whether it ran.

        Context changes of a successful run are kept. Raises StepFailed when
        a step fails, after recording every step.
        """
        if not self.has_action(name):
            return False
        try:
            run = await self.engine.run_action(
                self.target.config,
                self.context,
                name,
                sandbox=self.target.is_sandbox,
            )
        except EngineError as error:
            # The action could not start, such as for an unknown step type.
            self.steps.append(_failed_action(name, error))
            raise StepFailed(name, error) from error
        self._record_action(run)
        if run.error is not None:
            raise StepFailed(name, run.error)
        self.context = run.context
        self.changed_keys.update(run.context_changes)
        if name == VALIDATION:
            self.validated_at = utc_now()
        return True

    def _record_action(self, run: ActionRun) -> None:
        for step in run.steps:
            self.steps.append({"action": run.name, **step.as_dict()})

    # -- result --------------------------------------------------------------

    def record(self, operation: str, error: StepFailed | None) -> dict[str, Any]:
        """Return the JSON record of the run for ``last_action_result``."""
        return {
            "operation": operation,
            "ok": error is None,
            "failed_step": error.step if error else None,
            "error": error.error.message if error else None,
            "error_code": error.error.code if error else None,
            "started_at": self.started_at.isoformat(),
            "finished_at": utc_now().isoformat(),
            "steps": list(self.steps),
            "context_keys_changed": sorted(self.changed_keys),
        }


def expired_without_refresh(run: AccountRun) -> StepFailed:
    """Build the failure of an expired OAuth token that cannot be refreshed."""
    error = AuthenticationError(
        "the access token expired and no refresh token is stored "
        "(oauth.token.refresh_token); reconnect the account",
        status=None,
    )
    run.steps.append(_failed_action(TOKEN_STEP, error))
    return StepFailed(TOKEN_STEP, error)


def _failed_action(name: str, error: EngineError) -> dict[str, Any]:
    return {
        "action": name,
        "index": 0,
        "type": None,
        "name": None,
        "outcome": "error",
        "duration_ms": 0.0,
        "request_method": None,
        "request_path": None,
        "status": getattr(error, "status", None),
        "error": error.message,
    }


def _lookup(config: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    value: Any = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}
