"""GraphQL subscriptions over WebSocket with the graphql-transport-ws protocol.

A client opens a WebSocket to ``/graphql`` with the ``graphql-transport-ws``
subprotocol and authenticates in ``connection_init`` with the payload
``{"Authorization": "Bearer <token>"}`` or ``{"token": "<token>"}``. The
legacy ``graphql-ws`` subprotocol is not offered: such a connection is closed
with 4406. Close codes:

- 4400: the message or the ``connection_init`` payload is invalid;
- 4403: the token is missing, unknown, expired or revoked, checked at
  ``connection_init`` and again at every keep-alive ping;
- 4408: no ``connection_init`` in time, or no pong before the next ping;
- 4429: a second ``connection_init``.

`Subscription.integrated_account_events` streams the events that
`graphql_api.event_feed` reads, limited to the environments that the token
may read and to the optional filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    PongMessage,
    SubscribeMessage,
)

from db.session import Database
from graphql_api.auth import Principal, authenticate
from graphql_api.context import Info, RequestContext
from graphql_api.errors import AuthenticationError
from graphql_api.event_feed import RecordedEvent, SubscriberOverflowError, feed_for
from graphql_api.loaders import Loaders
from graphql_api.types.enums import stored_value
from graphql_api.types.event import (
    EventFilterArgument,
    IntegratedAccountEvent,
    IntegratedAccountEventFilter,
)
from graphql_api.types.filters import DateTimeFilter, EnumFilter, IDFilter
from graphql_api.types.node import parse_id

logger = logging.getLogger("graphql_api.subscriptions")

EventMatcher = Callable[[RecordedEvent], bool]


def event_matcher(
    principal: Principal, condition: IntegratedAccountEventFilter | None
) -> EventMatcher:
    """Build the test that an event must pass to reach a subscriber.

    The event must be in an environment that the token may read, and it
    must meet every field of `condition` with the meaning that the `events`
    query gives it. Raises BadUserInputError for a malformed id.
    """
    tests: list[EventMatcher] = [_scope_test(principal)]
    if condition is not None:
        tests.extend(_filter_tests(condition))
    return lambda event: all(test(event) for test in tests)


def _scope_test(principal: Principal) -> EventMatcher:
    if principal.environment_id is not None:
        environment_id = principal.environment_id
        return lambda event: event.row.environment_id == environment_id
    team_id = principal.team_id
    return lambda event: event.team_id == team_id


def _filter_tests(condition: IntegratedAccountEventFilter) -> list[EventMatcher]:
    tests: list[EventMatcher] = []
    if condition.type is not None:
        matches_type = _enum_test(condition.type)
        tests.append(lambda event: matches_type(event.row.type))
    id_filters = [
        (condition.integrated_account_id, "integrated_account_id"),
        (condition.environment_id, "environment_id"),
        (condition.integration_id, "integration_id"),
    ]
    for id_filter, attribute in id_filters:
        if id_filter is not None:
            tests.append(_id_test(id_filter, attribute))
    if condition.created_at is not None:
        matches_time = _datetime_test(condition.created_at)
        tests.append(lambda event: matches_time(event.row.created_at))
    return tests


def _id_test(condition: IDFilter, attribute: str) -> EventMatcher:
    allowed: list[set[uuid.UUID]] = []
    if condition.eq is not None:
        allowed.append({parse_id(condition.eq, "eq")})
    if condition.in_ is not None:
        allowed.append({parse_id(value, "in") for value in condition.in_})
    return lambda event: all(getattr(event.row, attribute) in ids for ids in allowed)


def _enum_test(condition: EnumFilter[Any]) -> Callable[[str], bool]:
    eq = None if condition.eq is None else stored_value(condition.eq)
    ne = None if condition.ne is None else stored_value(condition.ne)
    in_ = None if condition.in_ is None else {stored_value(v) for v in condition.in_}
    not_in = (
        None
        if condition.not_in is None
        else {stored_value(value) for value in condition.not_in}
    )
    return lambda value: (
        (eq is None or value == eq)
        and (ne is None or value != ne)
        and (in_ is None or value in in_)
        and (not_in is None or value not in not_in)
    )


def _datetime_test(condition: DateTimeFilter) -> Callable[[Any], bool]:
    return lambda moment: (
        (condition.eq is None or moment == condition.eq)
        and (condition.gt is None or moment > condition.gt)
        and (condition.gte is None or moment >= condition.gte)
        and (condition.lt is None or moment < condition.lt)
        and (condition.lte is None or moment <= condition.lte)
    )


async def _stream_events(
    info: Info, matches: EventMatcher
) -> AsyncGenerator[IntegratedAccountEvent, None]:
    context = info.context
    async with feed_for(context.database).subscribe() as subscriber:
        while True:
            try:
                recorded = await subscriber.next_event()
            except SubscriberOverflowError:
                raise GraphQLError(
                    "The subscription fell too far behind the events and was "
                    "ended: subscribe again, and read the missed events with "
                    "the `events` query."
                ) from None
            if matches(recorded):
                # Fields of the event load rows through dataloaders, whose
                # cache would otherwise keep rows as they were at the first
                # event of a long-lived subscription.
                context.loaders = Loaders(context.database, context.principal)
                yield IntegratedAccountEvent.from_row(recorded.row)


@strawberry.type(
    description="Streams of changes, served over WebSocket with the "
    "graphql-transport-ws protocol at `/graphql`."
)
class Subscription:
    @strawberry.subscription(  # type: ignore[untyped-decorator]
        description="Integrated account events as they are recorded, in the "
        "environments that the token may read, from the moment of subscribing. "
        "Events of other server processes arrive too. A subscriber that falls "
        "1000 events behind gets an error and should read the missed events "
        "with the `events` query."
    )
    async def integrated_account_events(
        self, info: Info, filter: EventFilterArgument = None
    ) -> AsyncGenerator[IntegratedAccountEvent, None]:
        # Built before the stream starts, so that a malformed id in the filter
        # fails the subscription with its message.
        matches = event_matcher(info.context.principal, filter)
        return _stream_events(info, matches)


def bearer_header(payload: dict[str, object]) -> str | None:
    """Return the ``Authorization`` value of a ``connection_init`` payload.

    Accepts ``{"Authorization": "Bearer <token>"}`` with the key in any case,
    as GraphiQL and most clients send their headers, or ``{"token": "..."}``.
    """
    for key, value in payload.items():
        if key.lower() == "authorization" and isinstance(value, str):
            return value
    token = payload.get("token")
    if isinstance(token, str) and token:
        return f"Bearer {token}"
    return None


class SubscriptionHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Strawberry's graphql-transport-ws handler with this API's rules.

    It authenticates ``connection_init``, gives each operation its own
    context, sends a ping every ``subscription_ping_seconds`` and closes a
    connection that misses a pong or whose token stops working.
    """

    principal: Principal | None = None
    authorization: str | None = None
    keep_alive_task: asyncio.Task[None] | None = None
    awaiting_pong = False

    @property
    def database(self) -> Database:
        return self.view.database  # type: ignore[attr-defined, no-any-return]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if self.connection_init_received or not isinstance(payload, dict):
            # The base class closes the connection with 4429 or 4400.
            await super().handle_connection_init(message)
            return
        self.authorization = bearer_header(payload)
        try:
            self.principal = await authenticate(self.database, self.authorization)
        except AuthenticationError as error:
            await self._reject(error.message)
            return
        self.context = self._new_context()
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            logger.info(
                "subscription_connection_ready team_id=%s environment_id=%s",
                self.principal.team_id,
                self.principal.environment_id,
            )
            self.keep_alive_task = asyncio.create_task(self._keep_alive())

    async def _reject(self, reason: str) -> None:
        if self.connection_init_timeout_task is not None:
            self.connection_init_timeout_task.cancel()
        logger.info("subscription_connection_rejected reason=%r", reason)
        # A close reason is limited to 123 bytes of UTF-8.
        close_reason = f"Forbidden: {reason}".encode()[:123].decode(errors="ignore")
        await self.websocket.close(4403, close_reason)

    def _new_context(self) -> RequestContext:
        assert self.principal is not None
        return RequestContext(
            database=self.database,
            principal=self.principal,
            request_id=f"ws-{uuid.uuid4().hex}",
        )

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # NOTE: operations over WebSocket are capped per connection only. The
        # per-token rate limit of `graphql_api.security` counts HTTP requests.
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"This connection already runs {limit} operations, the maximum: "
                "complete one first or open another connection.",
                extensions={"code": "SUBSCRIPTION_LIMIT_REACHED"},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[RequestContext, None]) -> None:
        # Each operation gets a context of its own, so that dataloader caches
        # are not shared between operations. The base class reads
        # `self.context` before its first await, so no other operation can
        # replace it in between.
        self.context = self._new_context()
        await super().run_operation(operation)

    async def handle_pong(self, message: PongMessage) -> None:
        self.awaiting_pong = False

    async def _keep_alive(self) -> None:
        interval = self.view.settings.subscription_ping_seconds  # type: ignore[attr-defined]
        try:
            while await self._ping_after(interval):
                pass
        except WebSocketDisconnected:
            return
        except Exception:
            # Nothing awaits this task, so its failure is logged here, and the
            # connection closes because it can no longer be checked.
            logger.exception("subscription_keep_alive_failed")
            await self.websocket.close(1011, "Keep-alive failed")

    async def _ping_after(self, interval: float) -> bool:
        """Wait, check the pong and the token, and ping; False once closed."""
        await asyncio.sleep(interval)
        if self.awaiting_pong:
            logger.info("subscription_connection_closed reason='no pong'")
            await self.websocket.close(4408, "Keep-alive timeout: no pong")
            return False
        try:
            await authenticate(self.database, self.authorization)
        except AuthenticationError as error:
            await self._reject(error.message)
            return False
        self.awaiting_pong = True
        await self.send_message({"type": "ping"})
        return True

    async def shutdown(self) -> None:
        if self.keep_alive_task is not None:
            self.keep_alive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keep_alive_task
        await super().shutdown()
