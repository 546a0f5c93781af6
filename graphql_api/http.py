"""The ``/graphql`` endpoint: GraphQL over HTTP, GraphiQL and WebSocket.

HTTP requests follow the GraphQL-over-HTTP specification (see
`graphql_api.http_request` for the request rules):

- GET runs queries only. A mutation over GET gets 405 with ``Allow: POST``,
  and any method other than GET and POST gets 405 with ``Allow: GET, POST``.
- Every request needs ``Authorization: Bearer <token>``, except a browser
  opening ``/graphql``, which gets the GraphiQL page.
- With ``application/graphql-response+json``, a request that fails before
  execution (a parse, validation or variable coercion error) gets 400. With
  ``application/json`` it gets 200, as older clients expect. Such a response
  has no ``data`` entry, as the GraphQL specification requires.
- Failures outside GraphQL (no token, a body that is not JSON, a body over
  the size limit) still get a JSON body of the form ``{"errors": [{"message",
  "extensions": {"code"}}]}``.

WebSocket connections speak ``graphql-transport-ws`` through strawberry,
with the handler of `graphql_api.subscriptions`.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from db.session import Database
from graphql_api.auth import authenticate
from graphql_api.compiled.reads import CompiledReads
from graphql_api.context import RequestContext
from graphql_api.document_cache import parse_cached
from graphql_api.errors import (
    AuthenticationError,
    ErrorCode,
    error_body,
    truncate_repr,
)
from graphql_api.event_feed import EventFeed, register_feed
from graphql_api.graphiql import graphiql_asset_routes, graphiql_page, wants_graphiql
from graphql_api.http_request import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    GraphQLParams,
    HTTPRequestError,
    negotiate_media_type,
    params_from_body,
    params_from_query_string,
)
from graphql_api.schema import schema
from graphql_api.security.limits import current_security_settings
from graphql_api.settings import Settings
from graphql_api.subscriptions import SubscriptionHandler

logger = logging.getLogger("graphql_api.http")

# Largest request body accepted, in bytes. Integration configs are the
# largest inputs, and a few hundred kilobytes covers big ones.
MAX_BODY_BYTES = 2 * 1024 * 1024
ALLOWED_METHODS = "GET, POST"


class BodyTooLargeError(Exception):
    """Raised while reading a request body that exceeds `MAX_BODY_BYTES`."""


def encode_json(data: object) -> bytes:
    """Serialize a response body with orjson.

    orjson rejects integers beyond 64 bits, which stored JSON documents may
    contain, so those bodies fall back to the standard library.
    """
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode("utf-8")


def json_response(
    body: object,
    status_code: int = 200,
    *,
    media_type: str = APPLICATION_JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a response whose body is `body` serialized as UTF-8 JSON."""
    return Response(
        encode_json(body),
        status_code=status_code,
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )


def response_body(result: ExecutionResult) -> dict[str, Any]:
    """Build the GraphQL response body of an execution result.

    The ``data`` entry is left out when execution never started, that is,
    when there is no data and every error is a request error without a path.
    """
    body: dict[str, Any] = {}
    if execution_started(result):
        body["data"] = result.data
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def execution_started(result: ExecutionResult) -> bool:
    """Tell whether a result comes from execution, not from a request error.

    Parse, validation and variable coercion errors have no path, and they
    stop the request before any field runs, so the result has no data.
    """
    if result.data is not None or not result.errors:
        return True
    return any(error.path is not None for error in result.errors)


class GraphQLView(GraphQL[RequestContext, None]):
    """The ASGI application of ``/graphql`` for HTTP and WebSocket scopes."""

    graphql_transport_ws_handler_class = SubscriptionHandler

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=settings.subscription_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            # Browsers send no CORS preflight before a WebSocket handshake, so
            # strawberry checks its Origin header against the same list.
            allowed_origins=settings.cors_allow_origins,
        )
        self.database = database
        self.settings = settings
        self.compiled: CompiledReads | None = None
        if settings.compiled_reads:
            self.compiled = CompiledReads(
                database, schema._schema, settings.database_pool_size
            )
            database.on_dispose(self.compiled.close)
        register_feed(EventFeed(database, poll_seconds=settings.event_poll_seconds))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, _limit_body(receive, MAX_BODY_BYTES))
        response = await self._respond(request)
        await response(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        # WebSocket connections authenticate in `connection_init`, where
        # `SubscriptionHandler` builds their context, so none exists before.
        return None  # type: ignore[return-value]

    def encode_json(self, data: object) -> str:
        # graphql-transport-ws messages must be text frames, and strawberry
        # sends bytes as binary frames.
        return encode_json(data).decode("utf-8")

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def _respond(self, request: Request) -> Response:
        request_id = _request_id(request)
        media_type = negotiate_media_type(request.headers.get("accept"))
        try:
            return await self._process(request, request_id)
        except AuthenticationError as error:
            logger.info(
                "authentication_rejected request_id=%s reason=%r",
                request_id,
                error.message,
            )
            return json_response(
                error_body(error.message, error.code),
                401,
                media_type=media_type or APPLICATION_JSON,
                headers={"www-authenticate": 'Bearer realm="graphql"'},
            )
        except HTTPRequestError as error:
            logger.info(
                "request_rejected request_id=%s status=%d reason=%r",
                request_id,
                error.status,
                error.message,
            )
            return json_response(
                error_body(error.message, error.code),
                error.status,
                media_type=media_type or APPLICATION_JSON,
                headers=error.headers,
            )
        except BodyTooLargeError:
            logger.info(
                "request_rejected request_id=%s status=413 reason='body too large'",
                request_id,
            )
            message = (
                f"The request body exceeds {MAX_BODY_BYTES} bytes: send a "
                "smaller document."
            )
            return json_response(error_body(message, ErrorCode.BAD_REQUEST), 413)
        except Exception:
            logger.exception("request_failed request_id=%s", request_id)
            message = (
                f"Internal server error (request id {request_id}). The failure "
                "was logged; retry later or report the request id."
            )
            return json_response(
                error_body(message, ErrorCode.INTERNAL_SERVER_ERROR), 500
            )

    async def _process(self, request: Request, request_id: str) -> Response:
        if request.method not in ("GET", "POST"):
            raise HTTPRequestError(
                405,
                f"Method {request.method} is not allowed: /graphql accepts GET "
                "and POST, and GET runs queries only.",
                headers={"allow": ALLOWED_METHODS},
            )
        if request.method == "GET" and wants_graphiql(request):
            return graphiql_page(request)
        media_type = negotiate_media_type(request.headers.get("accept"))
        if media_type is None:
            raise HTTPRequestError(
                406,
                f"Accept {request.headers.get('accept')!r} allows no supported "
                f"media type: accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}.",
            )

        early_params = await self._early_params(request)
        if early_params is not None:
            compiled = await self._compiled_response(request, early_params, media_type)
            if compiled is not None:
                return compiled
        principal = await authenticate(
            self.database, request.headers.get("authorization")
        )
        # Parameters are read after the token check, so that a request without
        # a valid token gets 401 whatever its body.
        params = early_params or await _read_params(request)
        context = RequestContext(
            database=self.database, principal=principal, request_id=request_id
        )
        result = await _execute(params, request.method, context)
        if self.compiled is not None and result.data is not None and not result.errors:
            self.compiled.learn(params.query, params.operation_name)

        status = 200
        if media_type == GRAPHQL_RESPONSE_JSON and not execution_started(result):
            status = 400
        return json_response(response_body(result), status, media_type=media_type)

    async def _early_params(self, request: Request) -> GraphQLParams | None:
        """Read the parameters before the token check, for the compiled reads.

        Returns None when there are no compiled reads, no Authorization
        header, or parameters that are invalid. The executor's path then
        reads them after the token check and reports errors in the usual
        order.
        """
        if self.compiled is None or request.headers.get("authorization") is None:
            return None
        try:
            return await _read_params(request)
        except HTTPRequestError:
            return None

    async def _compiled_response(
        self, request: Request, params: GraphQLParams, media_type: str
    ) -> Response | None:
        """Serve a planned list read without the executor, or return None."""
        assert self.compiled is not None
        body = await self.compiled.respond(
            params.query,
            params.operation_name,
            params.variables,
            request.headers.get("authorization"),
        )
        if body is None:
            return None
        return Response(body, media_type=f"{media_type}; charset=utf-8")


async def _read_params(request: Request) -> GraphQLParams:
    if request.method == "GET":
        return params_from_query_string(request.query_params)
    body = await request.body()
    return params_from_body(request.headers.get("content-type"), body)


async def _execute(
    params: GraphQLParams, method: str, context: RequestContext
) -> ExecutionResult:
    if params.operation_name is None and _operation_count(params.query) > 1:
        # Strawberry 0.341 would run the first one; the GraphQL specification
        # requires a request error.
        return ExecutionResult(
            data=None,
            errors=[
                GraphQLError(
                    _operation_not_found_message(None),
                    extensions={"code": ErrorCode.BAD_REQUEST.value},
                )
            ],
        )
    allowed = {OperationType.QUERY}
    if method == "POST":
        allowed.add(OperationType.MUTATION)
    try:
        return await schema.execute(
            params.query,
            variable_values=params.variables,
            context_value=context,
            operation_name=params.operation_name,
            allowed_operation_types=allowed,
            operation_extensions=params.extensions,
        )
    except InvalidOperationTypeError as error:
        raise _operation_type_error(error.operation_type) from None
    except CannotGetOperationTypeError as error:
        return ExecutionResult(
            data=None,
            errors=[
                GraphQLError(
                    _operation_not_found_message(error.operation_name),
                    extensions={"code": ErrorCode.BAD_REQUEST.value},
                )
            ],
        )


def _operation_count(query: str) -> int:
    """Count the operations of a document; 0 when it does not parse.

    The parse goes through the document cache with the token limit that
    `QueryLimits` applies, so the executor finds the same cached document.
    """
    options = {"max_tokens": current_security_settings().max_tokens}
    try:
        document = parse_cached(query, options)
    except GraphQLError:
        return 0
    return sum(
        isinstance(definition, OperationDefinitionNode)
        for definition in document.definitions
    )


def _operation_type_error(operation_type: OperationType) -> HTTPRequestError:
    if operation_type == OperationType.MUTATION:
        return HTTPRequestError(
            405,
            "Mutations are not allowed over GET: send them with POST.",
            headers={"allow": "POST"},
        )
    return HTTPRequestError(
        400,
        "Subscriptions are not served over HTTP: open a WebSocket to /graphql "
        "with the graphql-transport-ws subprotocol.",
    )


def _operation_not_found_message(operation_name: str | None) -> str:
    if operation_name is None:
        return (
            "The document has no single operation to run: send one operation "
            "or name the one to run in 'operationName'."
        )
    return f"The document has no operation named {truncate_repr(operation_name)}."


def _limit_body(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLargeError
        return message

    return limited


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "unknown"))


def graphql_routes(database: Database, settings: Settings) -> list[BaseRoute]:
    """Build the routes of ``/graphql`` and of GraphiQL's static assets."""
    view = GraphQLView(database, settings)
    return [
        Route("/graphql", view, methods=None),
        WebSocketRoute("/graphql", view),
        *graphiql_asset_routes(),
    ]
