"""The config engine's facade: one object that runs integration configs.

`Engine` takes the EFFECTIVE config (the integration config with the
environment integration's override already merged, see
`config_engine.merge.effective_config`), an account context and an
`httpx.AsyncClient`, and returns typed results, new credentials and typed
errors. It imports neither GraphQL nor the database, so the API server, the
CLI and any worker share it.

Sandbox accounts may only read: with ``sandbox=True``, POST, PUT, PATCH and
DELETE raise SandboxWriteError unless the call is marked as a lifecycle call
(the account's own token, validation and post-install requests).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from config_engine import oauth
from config_engine.actions import (
    LIFECYCLE_ACTIONS,
    ActionRun,
    StepResponse,
    run_action,
)
from config_engine.auth import authorization_headers
from config_engine.errors import ConfigError, SandboxWriteError
from config_engine.http import (
    WRITE_METHODS,
    PreparedRequest,
    RequestDraft,
    SendOptions,
    UpstreamResponse,
    request_variables,
    send,
)
from config_engine.merge import method_config
from config_engine.method_cache import MethodCache
from config_engine.oauth import CredentialUpdate
from config_engine.pagination import PageState, Pagination
from config_engine.rate_limit import (
    Clock,
    OnWait,
    RateLimitInfo,
    RateLimitRules,
    Retrier,
    RetryPolicy,
    RetryWait,
    Sleep,
)
from config_engine.request_template import RequestTemplate
from config_engine.responses import (
    Redactor,
    as_records,
    judge_response,
    lookup_path,
    upstream_error,
)
from config_engine.webhooks import InboundRequest, WebhookResult, process_webhook

OAUTH_FORMATS = ("oauth2", "oauth2_client_credentials")
DEFAULT_API_KEY_AUTHORIZATION: Mapping[str, Any] = {
    "format": "header",
    "config": {
        "header_name": "Authorization",
        "header_value": "Bearer {{credentials.api_key}}",
    },
}
# A resource name no config can use, for action steps run as resource methods.
_ACTION_RESOURCE = "$action"


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Bounds on the engine's work. Times are in seconds.

    `request_timeout` bounds one exchange, and `call_timeout` one call with
    its retries and waits: no retry starts that would end after it, and the
    last attempt's timeout is cut to the time left.
    `max_pages` caps `iterate` and every cursor chain; a pagination config's
    own `max_pages` can only lower it. `expression_timeout` bounds each JSONata
    evaluation, which runs on the event loop's thread and blocks it meanwhile.
    """

    request_timeout: float = 30.0
    call_timeout: float = 90.0
    max_response_bytes: int = 20 * 1024 * 1024
    max_retries: int = 3
    max_retry_wait: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_pages: int = 100
    expression_timeout: float | None = 0.25

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry bounds as a RetryPolicy."""
        return RetryPolicy(
            max_retries=self.max_retries,
            max_wait=self.max_retry_wait,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
        )

    @property
    def send_options(self) -> SendOptions:
        """The per-exchange bounds as SendOptions."""
        return SendOptions(
            timeout=self.request_timeout, max_response_bytes=self.max_response_bytes
        )


@dataclass(frozen=True, slots=True)
class PageResult:
    """One upstream response, interpreted.

    `result` is the response data at the method's `response_path`; `records`
    is the same as a list. `next_cursor` is the opaque cursor of the next page,
    or None. `stop_reason` is ``more`` when there is a next page, and otherwise
    why there is none: ``end``, ``empty_page``, ``repeated`` or ``page_cap``. `page` is
    the 1-based position of this page in its cursor chain. `request` is what
    was sent; its `describe()` masks the credentials.
    """

    result: Any
    records: list[Any]
    status: int
    headers: Mapping[str, str]
    next_cursor: str | None
    stop_reason: str
    page: int
    rate_limit: RateLimitInfo
    waits: tuple[RetryWait, ...]
    request: PreparedRequest


# Not frozen, because one is made per call and a frozen dataclass costs about
# 1 µs more to create (timeit, CPython 3.11).
@dataclass(slots=True)
class _Call:
    resource: str
    method: str
    query: Mapping[str, Any] | None
    body: Any
    id: Any
    cursor: str | None
    sandbox: bool
    lifecycle: bool
    authentication_method: str | None


@dataclass(slots=True)
class _Plan:
    path: str
    method_config: Mapping[str, Any]
    request: PreparedRequest
    pagination: Pagination
    state: PageState | None
    secrets: _DeferredSecrets


@dataclass
class Engine:
    """Runs integration configs against upstream APIs.

    `sleep` and `clock` (epoch seconds) are injectable so that tests control
    time. `on_wait` is called with every rate-limit or backoff wait.

    Configs are read-only once passed in. The engine caches each config
    object's merged method settings and compiled templates, so a config
    changed in place after a call may be served as it was. Pass a new config
    object instead.
    """

    client: httpx.AsyncClient
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.time
    limits: EngineLimits = field(default_factory=EngineLimits)
    rng: random.Random = field(default_factory=random.Random)
    on_wait: OnWait | None = None
    _methods: MethodCache = field(
        default_factory=MethodCache, init=False, repr=False, compare=False
    )

    # -- resource requests --------------------------------------------------

    def prepare_request(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        resource: str,
        method: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        id: Any = None,
        cursor: str | None = None,
        sandbox: bool = False,
        lifecycle: bool = False,
        authentication_method: str | None = None,
    ) -> PreparedRequest:
        """Build the request that `request` would send, without sending it."""
        call = _Call(
            resource,
            method,
            query,
            body,
            id,
            cursor,
            sandbox,
            lifecycle,
            authentication_method,
        )
        return self._plan(config, context, call).request

    async def request(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        resource: str,
        method: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        id: Any = None,
        cursor: str | None = None,
        sandbox: bool = False,
        lifecycle: bool = False,
        authentication_method: str | None = None,
    ) -> PageResult:
        """Call one resource method, or one page of it when given a `cursor`.

        `authentication_method` picks the credential format when the config
        accepts several, which decides the default authorization.
        Raises ConfigError (or PlaceholderError) for a config that cannot run,
        InvalidCursorError for a bad cursor, SandboxWriteError for a write on a
        sandbox account, and an UpstreamError subclass for an upstream failure.
        """
        call = _Call(
            resource,
            method,
            query,
            body,
            id,
            cursor,
            sandbox,
            lifecycle,
            authentication_method,
        )
        plan = self._plan(config, context, call)
        retrier = self._retrier(config)
        response = await self._send(
            plan.request, retrier, plan.method_config.get("timeout")
        )
        self._raise_for_error(
            response, plan, action=f"{plan.request.method} {resource}.{method}"
        )
        result = lookup_path(response.data, _response_path(plan.method_config))
        records = as_records(result)
        next_page = plan.pagination.advance(plan.state, plan.request, response, records)
        next_cursor = (
            plan.pagination.encode(next_page.state) if next_page.state else None
        )
        return PageResult(
            result=result,
            records=records,
            status=response.status,
            headers=response.headers,
            next_cursor=next_cursor,
            stop_reason=next_page.reason,
            page=(plan.state.pages + 1) if plan.state else 1,
            rate_limit=retrier.rules.info(response, self.clock()),
            waits=tuple(retrier.waits),
            request=plan.request,
        )

    async def iterate(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        resource: str,
        method: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        cursor: str | None = None,
        sandbox: bool = False,
        authentication_method: str | None = None,
    ) -> AsyncIterator[PageResult]:
        """Yield every page, following next cursors until pagination stops."""
        while True:
            page = await self.request(
                config,
                context,
                resource,
                method,
                query=query,
                body=body,
                cursor=cursor,
                sandbox=sandbox,
                authentication_method=authentication_method,
            )
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _plan(
        self, config: Mapping[str, Any], context: Mapping[str, Any], call: _Call
    ) -> _Plan:
        compiled = self._methods.get(
            config,
            call.resource,
            call.method,
            authentication_method=call.authentication_method,
            limits_token=self.limits,
            authorization_for=_authorization_block,
        )
        settings = compiled.settings
        _check_sandbox(settings, sandbox=call.sandbox, lifecycle=call.lifecycle)
        variables = request_variables(
            context,
            environment_variables=config.get("environment_variables"),
            query=call.query,
            body=call.body,
            id=call.id,
        )
        draft = compiled.template.draft(variables, query=call.query, body=call.body)
        pagination = compiled.pagination_for(
            max_pages=self.limits.max_pages,
            expression_timeout=self.limits.expression_timeout,
        )
        state = pagination.start(call.cursor, draft, call.query or {})
        pagination.apply_to(draft, state)
        request, secrets = self._authorize(
            settings,
            compiled.authorization,
            variables,
            draft,
            context,
            compiled.path,
            header_names=compiled.header_names,
        )
        return _Plan(compiled.path, settings, request, pagination, state, secrets)

    def _authorize(
        self,
        settings: Mapping[str, Any],
        authorization: Mapping[str, Any] | None,
        variables: Mapping[str, Any],
        draft: RequestDraft,
        context: Mapping[str, Any],
        path: str,
        *,
        header_names: frozenset[str] | None = None,
    ) -> tuple[PreparedRequest, _DeferredSecrets]:
        """Add the authorization headers to `draft` and finish the request.

        `header_names` contains the lower-case names of every header that the
        draft can hold, or is None when they are not known in advance.
        """
        if settings.get("no_auth"):
            secrets = _DeferredSecrets(context, None)
            return draft.finish(frozenset(), secrets), secrets
        headers = authorization_headers(
            authorization,
            variables,
            draft,
            path=f"{path}.authorization",
            timeout=self.limits.expression_timeout,
        )
        secrets = _DeferredSecrets(context, headers)
        if not headers:
            return draft.finish(frozenset(), secrets), secrets
        secret_headers = frozenset([name.lower() for name in headers])
        _add_headers(draft.headers, headers, secret_headers, header_names)
        return draft.finish(secret_headers, secrets), secrets

    def _retrier(self, config: Mapping[str, Any]) -> Retrier:
        rules = RateLimitRules.from_config(
            config.get("rate_limit"),
            path="rate_limit",
            timeout=self.limits.expression_timeout,
        )
        return Retrier(
            rules=rules,
            policy=self.limits.retry_policy,
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
            on_wait=self.on_wait,
        )

    async def _send(
        self, request: PreparedRequest, retrier: Retrier, timeout: Any = None
    ) -> UpstreamResponse:
        """Send with retries; a method's own `timeout` can only lower the limit."""
        options = self.limits.send_options
        if _is_positive_number(timeout):
            options = replace(options, timeout=min(options.timeout, float(timeout)))
        retrier.deadline = time.monotonic() + self.limits.call_timeout

        async def send_once() -> UpstreamResponse:
            # Kept positive: the deadline may pass between the check and here.
            timeout = max(min(options.timeout, retrier.time_left()), 0.001)
            return await send(self.client, request, replace(options, timeout=timeout))

        return await retrier.send(request.method, send_once)

    def _raise_for_error(
        self, response: UpstreamResponse, plan: _Plan, *, action: str
    ) -> None:
        expression = plan.method_config.get("error_expression")
        verdict = judge_response(
            response,
            expression,
            path=f"{plan.path}.error_expression",
            timeout=self.limits.expression_timeout,
        )
        if verdict.is_error:
            redactor = plan.secrets.redactor()
            raise upstream_error(response, verdict, redactor, action=action)

    # -- credentials --------------------------------------------------------

    async def refresh_credentials(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        *,
        authentication_method: str | None = None,
    ) -> CredentialUpdate:
        """Get a new access token for the account.

        A configured ``actions.refresh_token`` runs instead of the standard
        grant; it must leave a token under ``oauth.token`` in the context or
        output an object with an ``access_token``. ``oauth2`` uses the refresh
        token grant and ``oauth2_client_credentials`` fetches a new token.
        """
        block, path = select_credentials(config, authentication_method)
        if "refresh_token" in (config.get("actions") or {}):
            return await self._custom_refresh(config, context)
        fmt = block.get("format")
        if fmt == "oauth2_client_credentials":
            return await self.fetch_client_credentials_token(
                config, context, authentication_method=authentication_method
            )
        if fmt != "oauth2":
            raise ConfigError(
                f"credentials of format {fmt!r} have no token to refresh; "
                f"only {', '.join(OAUTH_FORMATS)} do",
                f"{path}.format",
            )
        return await oauth.refresh_access_token(
            self.client,
            block.get("config") or {},
            self._variables(config, context),
            path=f"{path}.config",
            now=self._now(),
            options=self.limits.send_options,
        )

    async def fetch_client_credentials_token(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        *,
        authentication_method: str | None = None,
    ) -> CredentialUpdate:
        """Fetch a token with the client-credentials grant."""
        block, path = select_credentials(config, authentication_method)
        return await oauth.client_credentials_token(
            self.client,
            block.get("config") or {},
            self._variables(config, context),
            path=f"{path}.config",
            now=self._now(),
            options=self.limits.send_options,
        )

    async def _custom_refresh(
        self, config: Mapping[str, Any], context: Mapping[str, Any]
    ) -> CredentialUpdate:
        run = await self.run_action(config, context, "refresh_token")
        run.raise_for_error()
        token = lookup_path(run.context_changes, "oauth.token")
        if not isinstance(token, Mapping):
            token = run.output if isinstance(run.output, Mapping) else {}
        previous = lookup_path(context, "oauth.token.refresh_token")
        return oauth.parse_token_response(
            token,
            now=self._now(),
            previous_refresh_token=previous if isinstance(previous, str) else None,
        )

    def missing_credential_fields(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        *,
        authentication_method: str | None = None,
    ) -> list[str]:
        """Return the required credential fields that the context lacks."""
        block, _ = select_credentials(config, authentication_method)
        fields = (block.get("config") or {}).get("fields") or []
        missing = []
        for spec in fields:
            if not isinstance(spec, Mapping) or not spec.get("required"):
                continue
            value = context.get(str(spec.get("name")))
            if value is None or value == "":
                missing.append(str(spec.get("name")))
        return missing

    # -- actions and webhooks ----------------------------------------------

    async def run_action(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        name: str,
        *,
        sandbox: bool = False,
        authentication_method: str | None = None,
    ) -> ActionRun:
        """Run the named action; its request steps use the integration's settings.

        The lifecycle actions (post_install, validation, refresh_token) may
        write upstream on a sandbox account; custom actions may not.
        """
        lifecycle = name in LIFECYCLE_ACTIONS

        async def run_request(
            step: Mapping[str, Any], variables: Mapping[str, Any], path: str
        ) -> StepResponse:
            return await self._action_request(
                config,
                context,
                step,
                variables,
                path,
                sandbox=sandbox,
                lifecycle=lifecycle,
                authentication_method=authentication_method,
            )

        return await run_action(
            config.get("actions"),
            name,
            context,
            run_request=run_request,
            variables_for=lambda current: self._variables(config, current),
            timeout=self.limits.expression_timeout,
        )

    async def _action_request(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        step: Mapping[str, Any],
        variables: Mapping[str, Any],
        path: str,
        *,
        sandbox: bool,
        lifecycle: bool,
        authentication_method: str | None,
    ) -> StepResponse:
        synthetic = {**config, "resources": {_ACTION_RESOURCE: {"step": dict(step)}}}
        settings = method_config(synthetic, _ACTION_RESOURCE, "step")
        _check_sandbox(settings, sandbox=sandbox, lifecycle=lifecycle)
        template = RequestTemplate(settings, path=path, compile_templates=False)
        draft = template.draft(variables)
        authorization = _authorization_block(config, settings, authentication_method)
        request, secrets = self._authorize(
            settings, authorization, variables, draft, context, path
        )
        response = await self._send(request, self._retrier(config))
        plan = _Plan(
            path,
            settings,
            request,
            Pagination(None, path=path, max_pages=1),
            None,
            secrets,
        )
        self._raise_for_error(response, plan, action=f"{request.method} {request.path}")
        output = lookup_path(response.data, _response_path(settings))
        return StepResponse(output, request.method, request.path, response.status)

    def verify_webhook(
        self,
        config: Mapping[str, Any],
        context: Mapping[str, Any],
        request: InboundRequest,
    ) -> WebhookResult:
        """Verify and transform one inbound webhook request for an account."""
        return process_webhook(
            config.get("webhook"),
            self._variables(config, context),
            request,
            timeout=self.limits.expression_timeout,
        )

    # -- helpers -------------------------------------------------------------

    def _variables(
        self, config: Mapping[str, Any], context: Mapping[str, Any]
    ) -> dict[str, Any]:
        return request_variables(
            context, environment_variables=config.get("environment_variables")
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)


def select_credentials(
    config: Mapping[str, Any], authentication_method: str | None
) -> tuple[Mapping[str, Any], str]:
    """Return the credential block in use and its JSON path.

    `credentials` is one block with a `format`, or a map of blocks keyed by
    format when an integration accepts several; then `authentication_method`
    picks one (or the only one).
    """
    credentials = config.get("credentials")
    if not isinstance(credentials, Mapping) or not credentials:
        raise ConfigError("no credentials are configured", "credentials")
    if "format" in credentials:
        return credentials, "credentials"
    if authentication_method is None and len(credentials) == 1:
        authentication_method = next(iter(credentials))
    block = credentials.get(authentication_method or "")
    if not isinstance(block, Mapping):
        raise ConfigError(
            f"no credentials for authentication method {authentication_method!r}; "
            f"configured: {', '.join(sorted(credentials))}",
            "credentials",
        )
    return block, f"credentials.{authentication_method}"


def _authorization_block(
    config: Mapping[str, Any],
    settings: Mapping[str, Any],
    authentication_method: str | None,
) -> Mapping[str, Any] | None:
    """Return the method's authorization, or the default for its credentials.

    Truto's defaults apply only when neither the method nor the integration
    sets ``authorization``: ``bearer`` for the OAuth formats, and for
    ``api_key`` a header ``Authorization: Bearer {{credentials.api_key}}``.
    Without credentials, or when several formats are configured and none was
    chosen, there is no default.
    """
    if "authorization" in settings:
        # A method's null switches authorization off, as merge documents.
        return settings["authorization"]  # type: ignore[no-any-return]
    try:
        credentials, _ = select_credentials(config, authentication_method)
    except ConfigError:
        return None
    fmt = credentials.get("format")
    if fmt in ("oauth2", "oauth2_client_credentials", "oauth"):
        return {"format": "bearer"}
    if fmt == "api_key":
        return DEFAULT_API_KEY_AUTHORIZATION
    return None


def _check_sandbox(
    settings: Mapping[str, Any], *, sandbox: bool, lifecycle: bool
) -> None:
    method = str(settings.get("method") or "get").upper()
    if sandbox and not lifecycle and method in WRITE_METHODS:
        raise SandboxWriteError(
            f"{method} is rejected on a sandbox account: sandbox accounts may only "
            "read; use a production account to write",
            method=method,
        )


def _is_positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _add_headers(
    headers: dict[str, str],
    added: Mapping[str, str],
    added_lower: frozenset[str],
    header_names: frozenset[str] | None,
) -> None:
    """Merge `added` into `headers` in place, as `merge_headers` merges them.

    A header of `headers` whose name matches an added one, ignoring case, is
    removed first. When `header_names` shows that no such header can exist,
    the scan is skipped.
    """
    if header_names is None or not added_lower.isdisjoint(header_names):
        replaced = [name for name in headers if name.lower() in added_lower]
        for name in replaced:
            del headers[name]
    headers.update(added)


class _DeferredSecrets(Collection[str]):
    """The account's known secret values, collected on first use.

    Collecting them walks the whole account context, and most requests are
    never described or redacted, so a request carries this view instead of
    the values. The `Redactor` that collects them is made on first use too,
    and it reads the context then, so a context changed in place before
    then is read as changed. `headers` are the authorization headers sent.
    """

    __slots__ = ("_context", "_headers", "_redactor", "_values")

    def __init__(
        self, context: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> None:
        self._context = context
        self._headers = headers
        self._redactor: Redactor | None = None
        self._values: frozenset[str] | None = None

    def redactor(self) -> Redactor:
        """Return the redactor of the context and headers, made on first use."""
        redactor = self._redactor
        if redactor is None:
            redactor = Redactor.from_context(self._context)
            if self._headers is not None:
                redactor.add_header_values(self._headers)
            self._redactor = redactor
        return redactor

    def _load(self) -> frozenset[str]:
        if self._values is None:
            self._values = self.redactor().known_secrets()
        return self._values

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _DeferredSecrets):
            return self._load() == other._load()
        if isinstance(other, Set):
            return self._load() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # The values are secrets, so only their count is shown.
        return f"<{len(self)} secret values>"


def _response_path(settings: Mapping[str, Any]) -> str | None:
    value = settings.get("response_path")
    return str(value) if value else None
