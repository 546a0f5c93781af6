"""Concurrent mutations over HTTP against one SQLite file.

Each mutation takes SQLite's write lock up front (BEGIN IMMEDIATE), so
writers queue instead of failing with "database is locked", and a
read-modify-write such as a context merge loses no concurrent update.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from db import models
from tests.conftest import LiveServer, Seeder, make_tenant

WRITERS = 20

UPDATE_CONTEXT = """
mutation ($input: UpdateIntegratedAccountInput!) {
  updateIntegratedAccount(input: $input) { userErrors { code message } }
}
"""

INSTALL = """
mutation ($input: InstallIntegrationInput!) {
  installIntegration(input: $input) {
    alreadyInstalled
    environmentIntegration { id }
    userErrors { code message }
  }
}
"""


async def _post_all(
    live_server: LiveServer, token: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=live_server.url, timeout=60, trust_env=False
    ) as http:
        return await asyncio.gather(
            *(http.post("/graphql", json=body, headers=headers) for body in bodies)
        )


async def test_concurrent_context_merges_keep_every_key(
    live_server: LiveServer, seeder: Seeder
) -> None:
    tenant = make_tenant(seeder)
    install = seeder.install(tenant.production, seeder.integration(tenant.team))
    account = seeder.account(install, context={"api_key": "sk-kept"})
    bodies = [
        {
            "query": UPDATE_CONTEXT,
            "variables": {"input": {"id": str(account.id), "context": {f"key_{n}": n}}},
        }
        for n in range(WRITERS)
    ]

    responses = await _post_all(live_server, tenant.team_token, bodies)

    for response in responses:
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["updateIntegratedAccount"]["userErrors"] == []
    stored = seeder.get(models.IntegratedAccount, account.id)
    assert stored is not None
    assert stored.context == {
        "api_key": "sk-kept",
        **{f"key_{n}": n for n in range(WRITERS)},
    }


async def test_concurrent_installs_create_one_install(
    live_server: LiveServer, seeder: Seeder
) -> None:
    tenant = make_tenant(seeder)
    integration = seeder.integration(tenant.team)
    body = {
        "query": INSTALL,
        "variables": {
            "input": {
                "integrationId": str(integration.id),
                "environmentId": str(tenant.production.id),
            }
        },
    }

    responses = await _post_all(live_server, tenant.team_token, [body] * WRITERS)

    payloads = [response.json()["data"]["installIntegration"] for response in responses]
    assert all(payload["userErrors"] == [] for payload in payloads)
    install_ids = {payload["environmentIntegration"]["id"] for payload in payloads}
    assert len(install_ids) == 1
    created = [payload for payload in payloads if not payload["alreadyInstalled"]]
    assert len(created) == 1
