"""Helpers that make account events and wait for them over a subscription.

graphql-transport-ws sends nothing when a subscription becomes active, so an
event written right after ``subscribe`` may come before the server listens.
`wait_until_active` closes that gap: it renames a probe account until one of
its events arrives, and `next_event` then skips the probe's events.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.servers.api import ApiServer
from tests.servers.graphql_ws import GraphQLWebSocket

RENAME = """
mutation Rename($id: ID!, $tenantId: String!) {
  updateIntegratedAccount(input: {id: $id, tenantId: $tenantId}) {
    userErrors { message }
  }
}
"""
PROBE_ATTEMPTS = 50
# Seconds to wait for a probe event before renaming the probe again.
PROBE_WAIT = 0.2


def post_mutation(server: ApiServer, token: str, query: str, **variables: Any) -> None:
    """POST a mutation and fail unless it succeeded without user errors."""
    response = httpx.post(
        server.graphql_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload


def rename(server: ApiServer, token: str, account_id: str, tenant_id: str) -> None:
    """Change an account's tenant id, which records an ``updated`` event."""
    post_mutation(server, token, RENAME, id=account_id, tenantId=tenant_id)


async def wait_until_active(
    socket: GraphQLWebSocket, server: ApiServer, token: str, probe_account_id: str
) -> None:
    """Return once a subscription on `socket` has received a probe event.

    The probe subscription is sent after the test's own, and the server
    starts operations in the order they arrive, so the test's subscriptions
    are active too.
    """
    await socket.subscribe(
        "probe",
        "subscription ($id: ID!) { integratedAccountEvents("
        "filter: {integratedAccountId: {eq: $id}}) { id } }",
        {"id": probe_account_id},
    )
    for attempt in range(PROBE_ATTEMPTS):
        await asyncio.to_thread(
            rename, server, token, probe_account_id, f"probe-{attempt}"
        )
        try:
            await socket.receive(timeout=PROBE_WAIT)
        except TimeoutError:
            continue
        return
    raise AssertionError(f"no probe event arrived after {PROBE_ATTEMPTS} renames")


async def next_event(
    socket: GraphQLWebSocket, operation_id: str, probe_account_id: str
) -> dict[str, Any]:
    """Return the next event, which must belong to `operation_id`, skipping probes."""
    received_by, event = await next_event_of_any(socket, probe_account_id)
    assert received_by == operation_id, (received_by, event)
    return event


async def next_event_of_any(
    socket: GraphQLWebSocket, probe_account_id: str
) -> tuple[str, dict[str, Any]]:
    """Return the next event that is not a probe event, with its operation id."""
    while True:
        message = await socket.receive()
        if message["id"] == "probe":
            continue
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["integratedAccountEvents"]
        if event.get("integratedAccountId") != probe_account_id:
            return message["id"], event
