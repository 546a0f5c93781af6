"""GraphiQL in headless Chromium, driven by playwright-core from Node.js.

The browser loads the page and its assets from a server process, runs a
query or a subscription with a team token typed into the Headers tab, and
the test reads the result pane. Chromium comes from Debian's ``chromium`` package, which
``make test`` installs when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Seeder
from tests.database_backend import Databases
from tests.servers.api import ApiServer, SeededTenant, api_server, seed_tenant
from tests.servers.tools import install_node_packages, node_executable

SCRIPT_FOLDER = Path(__file__).parent / "http_audit"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
QUERY = "{ environments { totalCount nodes { name } } }"
SUBSCRIPTION = "subscription { integratedAccountEvents { name integratedAccountId } }"
RENAME = (
    "mutation ($id: ID!, $tenantId: String!) { updateIntegratedAccount("
    "input: {id: $id, tenantId: $tenantId}) { userErrors { message } } }"
)
BROWSER_TIMEOUT = 180.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seeded(database_backend: Databases) -> tuple[str, SeededTenant]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run `make test`, which installs Debian's "
        "chromium package, or set CHROMIUM_PATH"
    )
    install_node_packages(SCRIPT_FOLDER)
    database_url = database_backend.new_migrated()
    seeder = Seeder(database_url)
    tenant = seed_tenant(seeder)
    seeder.close()
    return database_url, tenant


@pytest.fixture(scope="module")
def server(seeded: tuple[str, SeededTenant]) -> Iterator[ApiServer]:
    with api_server(seeded[0], EVENT_POLL_SECONDS="0.05") as running:
        yield running


def _open_graphiql(
    server: ApiServer, token: str, query: str, *extra: str, trigger: str = ""
) -> dict[str, Any]:
    """Run graphiql.mjs and return what it printed, with the server's URL."""
    environment = {**os.environ, "GRAPHQL_API_TOKEN": token}
    environment["CHROMIUM_PATH"] = str(CHROMIUM)
    environment["GRAPHIQL_TRIGGER"] = trigger
    result = subprocess.run(
        [node_executable(), "graphiql.mjs", server.graphql_url, query, *extra],
        cwd=SCRIPT_FOLDER,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    run: dict[str, Any] = json.loads(result.stdout)
    run["base_url"] = server.base_url
    return run


@pytest.fixture(scope="module")
def page_run(
    server: ApiServer,
    seeded: tuple[str, SeededTenant],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    screenshot = tmp_path_factory.mktemp("graphiql") / "graphiql.png"
    token = seeded[1].tenant.team_token

    run = _open_graphiql(server, token, QUERY, str(screenshot))

    run["screenshot"] = screenshot
    return run


def test_graphiql_shows_query_result(page_run: dict[str, Any]) -> None:
    environments = page_run["result"]["data"]["environments"]

    assert environments["totalCount"] == 2
    assert sorted(node["name"] for node in environments["nodes"]) == [
        "production",
        "staging",
    ]


def test_graphiql_loads_only_from_server(page_run: dict[str, Any]) -> None:
    foreign = [
        url for url in page_run["requests"] if not url.startswith(page_run["base_url"])
    ]

    assert page_run["requests"]
    assert foreign == []


def test_graphiql_loads_vendored_script(page_run: dict[str, Any]) -> None:
    assert f"{page_run['base_url']}/graphiql/graphiql.min.js" in page_run["requests"]


def test_graphiql_screenshot_is_png(page_run: dict[str, Any]) -> None:
    screenshot: Path = page_run["screenshot"]

    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)


def test_graphiql_streams_subscription_event(
    server: ApiServer, seeded: tuple[str, SeededTenant]
) -> None:
    tenant = seeded[1]
    rename = {
        "query": RENAME,
        "variables": {"id": tenant.production_account_id, "tenantId": "from-graphiql"},
    }

    run = _open_graphiql(
        server, tenant.tenant.team_token, SUBSCRIPTION, trigger=json.dumps(rename)
    )

    event = run["result"]["data"]["integratedAccountEvents"]
    assert event["name"] == "integrated_account:updated"
    assert event["integratedAccountId"] == tenant.production_account_id
