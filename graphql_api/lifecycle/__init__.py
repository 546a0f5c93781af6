"""The account lifecycle: connect, reauthorize and revalidate through the engine.

`LifecycleService` is the entry point; the GraphQL mutations in
`graphql_api.mutations.lifecycle` call it. One service exists per
`Database`: `create_app` registers it with `register_service`, and
`service_for` finds it (or makes a default one for a database used without
the application, as in scripts).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import AsyncIterator

from db.session import Database
from graphql_api.lifecycle.periodic import Periodic
from graphql_api.lifecycle.recovery import recover_stale_runs
from graphql_api.lifecycle.service import LifecycleService, NewAccount, RunResult
from graphql_api.settings import Settings

__all__ = [
    "LifecycleService",
    "NewAccount",
    "RunResult",
    "lifecycle_running",
    "register_service",
    "service_for",
]

logger = logging.getLogger("graphql_api.lifecycle")

_services: weakref.WeakKeyDictionary[Database, LifecycleService] = (
    weakref.WeakKeyDictionary()
)


def register_service(service: LifecycleService) -> None:
    """Make `service` the one that `service_for` returns for its database."""
    _services[service.database] = service


def service_for(database: Database) -> LifecycleService:
    """Return the service of `database`, creating one with default settings."""
    service = _services.get(database)
    if service is None:
        service = LifecycleService(database, Settings(database_url=database.url))
        register_service(service)
    return service


@contextlib.asynccontextmanager
async def lifecycle_running(service: LifecycleService) -> AsyncIterator[None]:
    """Recover stale runs, keep recovering them, and close the service at the end.

    Meant for the application's lifespan. A failed first recovery is logged
    and does not stop the server, because the periodic one tries again.
    """
    try:
        recovered = await recover_stale_runs(service.database)
        logger.info("lifecycle_recovery_done recovered=%d", recovered)
    except Exception:
        logger.exception("lifecycle_recovery_failed")
    sweeper = Periodic(
        service.lease_seconds,
        lambda: recover_stale_runs(service.database),
        "lifecycle_recovery_failed",
    )
    try:
        async with sweeper:
            yield
    finally:
        await service.close()
