"""Liveness and readiness endpoints for load balancers and orchestrators.

Both respond without authentication and bypass the GraphQL rate limits.

- ``GET /healthz`` (liveness) returns 200 ``{"status": "ok"}`` while the
  process serves HTTP. It does not touch the database, so that a database
  outage does not make an orchestrator restart every replica.
- ``GET /readyz`` (readiness) returns 200 ``{"status": "ready", "revision":
  ...}`` when the database responds within `READY_TIMEOUT_SECONDS` and is at
  the migration revision that this build expects. Otherwise it returns 503
  ``{"status": "unavailable", "reason": ...}``, so that a load balancer
  stops sending requests to this process. The reason names the failed
  check but no host or credential, because anyone can read it.

During a rolling upgrade, processes of the old build report 503 once the new
build has migrated the database, because their models may no longer match
the tables.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from db.migrate import head_revision
from db.session import Database

logger = logging.getLogger("graphql_api.health")

# Maximum time in seconds that the readiness check waits for the database,
# including the wait for a pooled connection. Set the probe's own timeout above
# it (Kubernetes' default timeoutSeconds is 1) so that the probe gets the 503
# and its reason instead of a timeout.
READY_TIMEOUT_SECONDS = 2.0
_NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True, slots=True)
class Readiness:
    """The result of one readiness check."""

    revision: str | None
    # Why the process is not ready, safe to send to any client. None when ready.
    reason: str | None = None
    # The database error behind `reason`, for the server's log only.
    error: str | None = None

    @property
    def ready(self) -> bool:
        """Whether the process can serve requests."""
        return self.reason is None


class HealthEndpoints:
    """The ``/healthz`` and ``/readyz`` handlers of one application.

    Readiness changes are logged once per change, not once per probe.
    """

    def __init__(
        self,
        database: Database,
        expected_revision: str | None = None,
        timeout: float = READY_TIMEOUT_SECONDS,
    ) -> None:
        self.database = database
        self.expected_revision = expected_revision or head_revision()
        self.timeout = timeout
        self._last_ready: bool | None = None

    def routes(self) -> list[BaseRoute]:
        """Return the routes of both endpoints."""
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]

    async def healthz(self, _request: Request) -> Response:
        """Report that the process is up."""
        return JSONResponse({"status": "ok"}, headers=_NO_STORE)

    async def readyz(self, _request: Request) -> Response:
        """Report whether the database is reachable and fully migrated."""
        readiness = await self.check()
        self._log_change(readiness)
        if readiness.ready:
            body = {"status": "ready", "revision": readiness.revision}
            return JSONResponse(body, headers=_NO_STORE)
        body = {"status": "unavailable", "reason": readiness.reason}
        return JSONResponse(body, status_code=503, headers=_NO_STORE)

    async def check(self) -> Readiness:
        """Read the database's revision and compare it with the expected one."""
        try:
            async with asyncio.timeout(self.timeout):
                revision = await self._read_revision()
        except TimeoutError:
            return Readiness(
                None, f"the database did not respond within {self.timeout} s"
            )
        except (SQLAlchemyError, OSError) as error:
            reason = f"the database is unreachable ({type(error).__name__})"
            return Readiness(None, reason, error=repr(error))
        return Readiness(revision, self._revision_problem(revision))

    async def _read_revision(self) -> str | None:
        async with self.database.engine.connect() as connection:
            return await connection.run_sync(_current_revision)

    def _revision_problem(self, revision: str | None) -> str | None:
        if revision == self.expected_revision:
            return None
        if revision is None:
            return "the database has no migrations applied: run graphql-api migrate"
        return (
            f"the database is at revision {revision!r}, but this build expects "
            f"{self.expected_revision!r}: run graphql-api migrate with the "
            "build that matches the database"
        )

    def _log_change(self, readiness: Readiness) -> None:
        if readiness.ready == self._last_ready:
            return
        self._last_ready = readiness.ready
        if readiness.ready:
            logger.info("readiness_ok revision=%s", readiness.revision)
        else:
            logger.warning(
                "readiness_failed reason=%r error=%s",
                readiness.reason,
                readiness.error,
            )


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
