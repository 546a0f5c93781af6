"""The typed Python client that ariadne-codegen generates from clients/.

The test generates the client from ``schema.graphql`` and the operations in
``clients/operations`` into a temporary folder, with the committed
configuration in ``clients/python/pyproject.toml``, and runs it against a
server process.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from db import models
from db.types import utc_now
from tests.conftest import Seeder, Tenant, make_tenant
from tests.database_backend import Databases
from tests.servers.api import ApiServer, api_server
from tests.servers.tools import install_python_tool

REPOSITORY = Path(__file__).resolve().parents[1]
PYTHON_CLIENT = REPOSITORY / "clients" / "python"
PACKAGE = "graphql_api_client"
CODEGEN_TIMEOUT = 120.0
RENAME_ATTEMPTS = 50
# Seconds between two renames while the subscription starts.
RENAME_INTERVAL = 0.2


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    tool_bin = install_python_tool(PYTHON_CLIENT)
    target = tmp_path_factory.mktemp("python-client")
    config = _config_for(target)

    result = subprocess.run(
        [str(tool_bin / "ariadne-codegen"), "--config", str(config)],
        cwd=PYTHON_CLIENT,
        capture_output=True,
        text=True,
        timeout=CODEGEN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    sys.path.insert(0, str(target))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(target))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def _config_for(target: Path) -> Path:
    """Write the committed configuration with absolute paths and `target`."""
    committed = tomllib.loads((PYTHON_CLIENT / "pyproject.toml").read_text())
    settings = committed["tool"]["ariadne-codegen"]
    settings["schema_path"] = str((PYTHON_CLIENT / settings["schema_path"]).resolve())
    settings["queries_path"] = str((PYTHON_CLIENT / settings["queries_path"]).resolve())
    settings["target_package_path"] = str(target)
    path = target / "codegen.toml"
    path.write_text(_toml(committed), encoding="utf-8")
    return path


def _toml(document: dict[str, Any], prefix: str = "") -> str:
    """Serialize tables of strings and booleans, all that the config uses."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in document.items():
        name = f'"{key}"' if "-" in key else key
        if isinstance(value, dict):
            tables.append((f"{prefix}{name}", value))
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        else:
            lines.append(f"{name} = {value!r}".replace("'", '"'))
    text = "\n".join(lines) + "\n"
    for table_name, table in tables:
        text += f"\n[{table_name}]\n" + _toml(table, f"{table_name}.")
    return text


@pytest.fixture(scope="module")
def database_url(database_backend: Databases) -> str:
    return database_backend.new_migrated()


@pytest.fixture(scope="module")
def seeder(database_url: str) -> Iterator[Seeder]:
    writer = Seeder(database_url)
    yield writer
    writer.close()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ApiServer]:
    with api_server(database_url, EVENT_POLL_SECONDS="0.05") as running:
        yield running


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.fixture(scope="module")
def install(seeder: Seeder, tenant: Tenant) -> models.EnvironmentIntegration:
    integration = seeder.integration(tenant.team)
    return seeder.install(tenant.production, integration)


@pytest.fixture
async def client(
    client_package: ModuleType, server: ApiServer, tenant: Tenant
) -> AsyncIterator[Any]:
    headers = {"Authorization": f"Bearer {tenant.team_token}"}
    http_client = httpx.AsyncClient(headers=headers, trust_env=False)
    async with client_package.GraphQLAPIClient(
        url=server.graphql_url,
        headers=headers,
        http_client=http_client,
        ws_url=server.websocket_url,
        ws_connection_init_payload=headers,
    ) as graphql:
        yield graphql


async def test_client_lists_accounts_needing_reauth(
    client: Any,
    client_package: ModuleType,
    seeder: Seeder,
    install: models.EnvironmentIntegration,
) -> None:
    stale = seeder.account(install, status="needs_reauth", last_error="expired")
    seeder.account(install, status="active")

    result = await client.accounts_needing_reauth(first=100)

    accounts = result.integrated_accounts
    assert str(stale.id) in [account.id for account in accounts.nodes]
    statuses = {account.status for account in accounts.nodes}
    assert statuses == {client_package.IntegratedAccountStatus.NEEDS_REAUTH}
    assert accounts.total_count == len(accounts.nodes)


async def test_client_parses_datetime_scalars(
    client: Any, seeder: Seeder, install: models.EnvironmentIntegration
) -> None:
    seeder.account(install, status="needs_reauth")

    result = await client.accounts_needing_reauth()

    updated_at = result.integrated_accounts.nodes[0].updated_at
    assert isinstance(updated_at, datetime)
    assert updated_at.tzinfo is not None


async def test_client_reads_account_detail_with_events(
    client: Any, seeder: Seeder, install: models.EnvironmentIntegration
) -> None:
    account = seeder.account(install, context={"region_code": "eu"})
    seeder.add(
        models.Event(
            type="integrated_account:created",
            environment_id=account.environment_id,
            integrated_account_id=account.id,
            integration_id=account.integration_id,
            payload={"tenant_id": account.tenant_id},
            created_at=utc_now(),
        )
    )

    result = await client.account_detail(id=str(account.id))

    detail = result.node
    assert detail.tenant_id == account.tenant_id
    assert detail.context == {"region_code": "eu"}
    assert detail.events.total_count == 1
    assert detail.events.nodes[0].name == "integrated_account:created"
    assert detail.events.nodes[0].account == {"tenant_id": account.tenant_id}


async def test_client_revalidate_returns_typed_payload(
    client: Any, seeder: Seeder, install: models.EnvironmentIntegration
) -> None:
    account = seeder.account(install, status="active")

    result = await client.revalidate_account(id=str(account.id))

    payload = result.revalidate_integrated_account
    assert payload.user_errors == []
    assert payload.integrated_account.id == str(account.id)
    assert payload.integrated_account.environment.name == "production"


async def test_client_reauthorize_sends_json_credentials(
    client: Any,
    client_package: ModuleType,
    seeder: Seeder,
    install: models.EnvironmentIntegration,
) -> None:
    account = seeder.account(install, status="needs_reauth")

    result = await client.reauthorize_account(
        id=str(account.id), credentials={"api_key": "new-key"}
    )

    payload = result.reauthorize_integrated_account
    assert payload.user_errors == []
    assert payload.integrated_account.status == (
        client_package.IntegratedAccountStatus.ACTIVE
    )


async def test_client_streams_account_events(
    client: Any,
    client_package: ModuleType,
    seeder: Seeder,
    install: models.EnvironmentIntegration,
    server: ApiServer,
    tenant: Tenant,
) -> None:
    account = seeder.account(install)
    event_filter = client_package.IntegratedAccountEventFilter(
        integratedAccountId=client_package.IDFilter(eq=str(account.id))
    )
    events = client.account_events(filter_=event_filter, proxy=None)

    first = asyncio.create_task(anext(events))
    try:
        await _rename_until_done(server, tenant, str(account.id), first)
        event = await first
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await events.aclose()

    streamed = event.integrated_account_events
    assert streamed.type_ == client_package.IntegratedAccountEventType.UPDATED
    assert streamed.integrated_account.tenant_id.startswith("streamed-")


async def _rename_until_done(
    server: ApiServer, tenant: Tenant, account_id: str, task: asyncio.Task[Any]
) -> None:
    """Rename the account until `task` finishes, at most `RENAME_ATTEMPTS` times.

    The generated client gives no signal once its subscription is active, so
    an event written before that would be missed. Renaming again until one
    arrives avoids the race.
    """
    mutation = (
        "mutation ($id: ID!, $name: String!) { updateIntegratedAccount("
        "input: {id: $id, tenantId: $name}) { userErrors { message } } }"
    )
    headers = {"authorization": f"Bearer {tenant.team_token}"}
    with httpx.Client(headers=headers, trust_env=False) as http:
        for attempt in range(RENAME_ATTEMPTS):
            variables = {"id": account_id, "name": f"streamed-{attempt}"}
            body = {"query": mutation, "variables": variables}
            response = await asyncio.to_thread(http.post, server.graphql_url, json=body)
            assert response.status_code == 200, response.text
            done, _pending = await asyncio.wait({task}, timeout=RENAME_INTERVAL)
            if done:
                return
