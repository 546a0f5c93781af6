"""The Starlette application: GraphQL, GraphiQL and a health check.

``/graphql`` serves GraphQL over HTTP and WebSocket and the GraphiQL page.
`graphql_api.http` describes its rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.session import Database
from db.statistics import keep_statistics_fresh, refresh_statistics_safely
from graphql_api.demo.upstream import (
    UPSTREAM_PREFIX,
    DemoUpstream,
    prepare_demo_upstream,
)
from graphql_api.health import HealthEndpoints
from graphql_api.http import graphql_routes
from graphql_api.lifecycle import LifecycleService, lifecycle_running, register_service
from graphql_api.security.keys import install_keyring
from graphql_api.security.middleware import SecurityMiddleware
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.http")

REQUEST_ID_HEADER = "x-request-id"


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
    down, including a database passed in by the caller. Raises SettingsError
    when the secret key is missing, malformed or a placeholder (see
    `graphql_api.security.keys`).
    """
    # Refuses a missing or placeholder key before anything touches the data.
    install_keyring(settings)
    database = database or Database(
        settings.database_url, **settings.database_pool_options()
    )
    lifecycle = LifecycleService(database, settings)
    register_service(lifecycle)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        logger.info(
            "server_started database=%s", database.engine.url.render_as_string()
        )
        statistics: asyncio.Task[None] | None = None
        try:
            await refresh_statistics_safely(database)
            statistics = asyncio.create_task(keep_statistics_fresh(database))
            if settings.demo:
                await prepare_demo_upstream(database, settings.port)
            async with lifecycle_running(lifecycle):
                yield
        finally:
            if statistics is not None:
                statistics.cancel()
            await database.dispose()
            logger.info("server_stopped")

    routes: list[BaseRoute] = [
        *graphql_routes(database, settings),
        *HealthEndpoints(database).routes(),
    ]
    if settings.demo:
        # The demo's vendor-like upstream, on this server's own loopback port.
        # NOTE: `serve --demo --workers N` builds each worker's app from the
        # environment, which does not carry the demo flag, so those workers
        # serve no demo upstream and the demo's upstream calls fail.
        routes.append(Mount(UPSTREAM_PREFIX, app=DemoUpstream().app()))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityMiddleware, settings=settings.security)
    if settings.cors_allow_origins:
        # Outside the security middleware, so that a preflight request, which
        # carries no token, is answered before any check of the request.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
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
