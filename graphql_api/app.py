"""The Starlette application: GraphQL over HTTP, GraphiQL and a health check.

``/graphql`` takes GraphQL over GET (queries only) and POST. Every request
must carry ``Authorization: Bearer <token>``; the one exception is a browser
opening ``/graphql``, which gets the GraphiQL page. Failures outside GraphQL
execution (no token, a body that is not JSON, a body over the size limit)
still get a JSON body of the form ``{"errors": [{"message", "extensions":
{"code"}}]}``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from db.session import Database
from graphql_api.auth import authenticate
from graphql_api.context import RequestContext
from graphql_api.errors import AuthenticationError, ErrorCode, error_body
from graphql_api.lifecycle import LifecycleService, lifecycle_running, register_service
from graphql_api.schema import schema
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.http")

# Largest request body accepted, in bytes. Integration configs are the
# largest inputs, and a few hundred kilobytes covers big ones.
MAX_BODY_BYTES = 2 * 1024 * 1024
REQUEST_ID_HEADER = "x-request-id"


class BodyTooLargeError(Exception):
    """Raised while reading a request body that exceeds `MAX_BODY_BYTES`."""


class JSONBody(Response):
    """A JSON response serialized with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class GraphQLView(GraphQL[RequestContext, None]):
    """Strawberry's ASGI view with bearer authentication and JSON errors."""

    def __init__(self, database: Database) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Subscriptions are not offered; refuse WebSocket handshakes.
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, _limit_body(receive, MAX_BODY_BYTES))
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        request_id = _request_id(request)
        try:
            if self.should_render_graphql_ide(self.request_adapter_class(request)):
                return await self.render_graphql_ide(request)
            request.state.principal = await authenticate(
                self.database, request.headers.get("authorization")
            )
            return await self.run(request)
        except AuthenticationError as error:
            logger.info(
                "authentication_rejected request_id=%s reason=%r",
                request_id,
                error.message,
            )
            return JSONBody(
                error_body(error.message, error.code),
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="graphql"'},
            )
        except HTTPException as error:
            logger.info(
                "request_rejected request_id=%s status=%d reason=%r",
                request_id,
                error.status_code,
                error.reason,
            )
            return JSONBody(
                error_body(error.reason, ErrorCode.BAD_REQUEST),
                status_code=error.status_code,
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
            return JSONBody(error_body(message, ErrorCode.BAD_REQUEST), status_code=413)
        except Exception:
            logger.exception("request_failed request_id=%s", request_id)
            message = (
                f"Internal server error (request id {request_id}). The failure "
                "was logged; retry later or report the request id."
            )
            return JSONBody(
                error_body(message, ErrorCode.INTERNAL_SERVER_ERROR), status_code=500
            )

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        return RequestContext(
            database=self.database,
            principal=request.state.principal,
            request_id=_request_id(request),
        )

    def encode_json(self, data: object) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:
            # orjson rejects integers beyond 64 bits, which stored JSON
            # documents may contain; the standard library writes them.
            return json.dumps(data, separators=(",", ":")).encode("utf-8")

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


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


class RequestLogMiddleware:
    """Give each HTTP request an id and log one line when it ends.

    The id goes into ``scope["state"]["request_id"]`` and the response header
    ``X-Request-Id``, so that a client can quote it in a report.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                "request_completed request_id=%s method=%s path=%s status=%d "
                "duration_ms=%.1f",
                request_id,
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )


def create_app(settings: Settings, database: Database | None = None) -> Starlette:
    """Build the application on `database`, or on one opened from `settings`.

    The application disposes of the database's connections when it shuts
    down, including a database passed in by the caller.
    """
    database = database or Database(settings.database_url)
    lifecycle = LifecycleService(database, settings)
    register_service(lifecycle)

    async def health(_request: Request) -> Response:
        async with database.read_session() as session:
            await session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        logger.info(
            "server_started database=%s", database.engine.url.render_as_string()
        )
        try:
            async with lifecycle_running(lifecycle):
                yield
        finally:
            await database.dispose()
            logger.info("server_stopped")

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLView(database)),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestLogMiddleware)
    return app


def app_from_env() -> Starlette:
    """Build the application from environment variables, for ``uvicorn --factory``.

    Each worker process calls this once.
    """
    settings = Settings.from_env()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.logging_level,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
    return create_app(settings)
