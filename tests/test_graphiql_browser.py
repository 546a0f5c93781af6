"""GraphiQL in headless Chromium, driven by playwright-core from Node.js.

The browser loads the page and its assets from a server process, runs a
query with a team token typed into the Headers tab, and the test reads the
result pane. Chromium comes from Debian's ``chromium`` package, which
``make test`` installs when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Seeder, make_tenant
from tests.database_backend import Databases
from tests.servers.api import api_server
from tests.servers.tools import install_node_packages, node_executable

SCRIPT_FOLDER = Path(__file__).parent / "http_audit"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
QUERY = "{ environments { totalCount nodes { name } } }"
BROWSER_TIMEOUT = 180.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def page_run(
    database_backend: Databases, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run `make test`, which installs Debian's "
        "chromium package, or set CHROMIUM_PATH"
    )
    install_node_packages(SCRIPT_FOLDER)
    database_url = database_backend.new_migrated()
    seeder = Seeder(database_url)
    token = make_tenant(seeder).team_token
    seeder.close()
    screenshot = tmp_path_factory.mktemp("graphiql") / "graphiql.png"

    with api_server(database_url) as server:
        arguments = [server.graphql_url, QUERY, str(screenshot)]
        result = subprocess.run(
            [node_executable(), "graphiql.mjs", *arguments],
            cwd=SCRIPT_FOLDER,
            env={
                **os.environ,
                "GRAPHQL_API_TOKEN": token,
                "CHROMIUM_PATH": str(CHROMIUM),
            },
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    run: dict[str, Any] = json.loads(result.stdout)
    run["base_url"] = server.base_url
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
