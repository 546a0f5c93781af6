"""Integrated account events: their Truto names and the rows that record them.

Each real transition records exactly one event: a status change records the
event of the new status, a change of stored data without a status change
records ``integrated_account:updated``, and reads or runs that change nothing
record none. The payload is the account after the event, with credentials
removed by `graphql_api.secrets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.enums import IntegratedAccountStatus as Status
from db.types import utc_now
from graphql_api.secrets import redact_context, redact_value


class EventType(StrEnum):
    """Event names, as Truto's webhooks spell them."""

    CREATED = "integrated_account:created"
    UPDATED = "integrated_account:updated"
    ACTIVE = "integrated_account:active"
    POST_INSTALL_ERROR = "integrated_account:post_install_error"
    VALIDATION_ERROR = "integrated_account:validation_error"
    AUTHENTICATION_ERROR = "integrated_account:authentication_error"
    REACTIVATED = "integrated_account:reactivated"
    DELETED = "integrated_account:deleted"


_STATUS_EVENTS = {
    Status.POST_INSTALL_ERROR: EventType.POST_INSTALL_ERROR,
    Status.VALIDATION_ERROR: EventType.VALIDATION_ERROR,
    Status.NEEDS_REAUTH: EventType.AUTHENTICATION_ERROR,
}


def status_event(
    previous: str | None, current: str, *, reconnected: bool
) -> EventType | None:
    """Return the event of a status change, or None when the status stayed.

    Back to ACTIVE from NEEDS_REAUTH is ``reactivated`` when the credentials
    started working again by themselves (a refresh or a revalidation), and
    ``active`` after a reconnect with new credentials, as in Truto.
    """
    if previous == current:
        return None
    if current == Status.ACTIVE:
        if previous == Status.NEEDS_REAUTH and not reconnected:
            return EventType.REACTIVATED
        return EventType.ACTIVE
    return _STATUS_EVENTS.get(Status(current))


# The account columns that an event payload describes.
PAYLOAD_COLUMNS = (
    "id",
    "tenant_id",
    "environment_id",
    "environment_integration_id",
    "integration_id",
    "status",
    "is_sandbox",
    "authentication_method",
    "region",
    "last_error",
    "context",
    "last_action_result",
    "credentials_expire_at",
    "last_refreshed_at",
    "last_validated_at",
    "created_at",
    "updated_at",
)


def account_values(account: models.IntegratedAccount) -> dict[str, Any]:
    """Return the columns of an account row that an event payload reads."""
    return {name: getattr(account, name) for name in PAYLOAD_COLUMNS}


def account_payload(
    account: Mapping[str, Any],
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Describe an account, given as its column values, as JSON without credentials."""
    return {
        "id": str(account["id"]),
        "tenant_id": account["tenant_id"],
        "environment_id": str(account["environment_id"]),
        "environment_integration_id": str(account["environment_integration_id"]),
        "integration_id": str(account["integration_id"]),
        "status": str(account["status"]),
        "is_sandbox": account["is_sandbox"],
        "authentication_method": _optional_text(account["authentication_method"]),
        "region": str(account["region"]),
        "last_error": account["last_error"],
        "context": redact_context(account["context"], integration_config, override),
        "last_action_result": redact_value(account["last_action_result"]),
        "credentials_expire_at": _iso(account["credentials_expire_at"]),
        "last_refreshed_at": _iso(account["last_refreshed_at"]),
        "last_validated_at": _iso(account["last_validated_at"]),
        "created_at": _iso(account["created_at"]),
        "updated_at": _iso(account["updated_at"]),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def new_event(
    event_type: EventType,
    account: Mapping[str, Any],
    payload: dict[str, Any],
    *,
    at: datetime | None = None,
) -> models.Event:
    """Build the event row of an account given as its column values.

    The caller adds the row to a session.
    """
    return models.Event(
        type=event_type.value,
        environment_id=account["environment_id"],
        integrated_account_id=account["id"],
        integration_id=account["integration_id"],
        payload=payload,
        created_at=at or utc_now(),
    )


async def add_account_event(
    session: AsyncSession,
    account: models.IntegratedAccount,
    event_type: EventType,
) -> models.Event:
    """Record an event of `account` in the session's transaction.

    Reads the account's integration and install in the same session to know
    which context fields are credentials. Call it before deleting the account,
    so that the payload describes the account as it was.
    """
    integration = await session.get(models.Integration, account.integration_id)
    install = await session.get(
        models.EnvironmentIntegration, account.environment_integration_id
    )
    values = account_values(account)
    payload = account_payload(
        values,
        integration.config if integration else None,
        install.override if install else None,
    )
    event = new_event(event_type, values, payload)
    session.add(event)
    return event


async def add_deleted_events(
    session: AsyncSession, condition: ColumnElement[bool]
) -> int:
    """Record ``integrated_account:deleted`` for each account that matches.

    Call it in the transaction of a bulk delete, before the DELETE. Returns
    the number of events.
    """
    query = select(models.IntegratedAccount).where(condition)
    accounts = (await session.scalars(query)).all()
    for account in accounts:
        await add_account_event(session, account, EventType.DELETED)
    return len(accounts)
