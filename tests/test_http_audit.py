"""graphql-http's GraphQL-over-HTTP server audits against a server process.

The audits come from the npm package graphql-http (pinned in
``tests/http_audit/package.json``) and run in Node.js with a bearer token
added to each request. graphql-http reports a failed MUST audit as an
error, a failed SHOULD audit as a warning and a failed MAY audit as a
notice. The server must pass all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Seeder
from tests.database_backend import Databases
from tests.servers.api import api_server
from tests.servers.tools import install_node_packages, node_executable

AUDIT_FOLDER = Path(__file__).parent / "http_audit"
# graphql-http 1.23.1 has 13 MUST audits.
MUST_AUDITS = 13
AUDIT_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def audit_results(database_backend: Databases) -> list[dict[str, Any]]:
    install_node_packages(AUDIT_FOLDER)
    database_url = database_backend.new_migrated()
    seeder = Seeder(database_url)
    token = seeder.token(seeder.team())
    seeder.close()
    with api_server(database_url) as server:
        result = subprocess.run(
            [node_executable(), "audit.mjs", server.graphql_url],
            cwd=AUDIT_FOLDER,
            env={**os.environ, "GRAPHQL_API_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=AUDIT_TIMEOUT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    results: list[dict[str, Any]] = json.loads(result.stdout)
    return results


def test_audits_report_no_failure(audit_results: list[dict[str, Any]]) -> None:
    failures = [result for result in audit_results if result["status"] != "ok"]

    assert failures == []


def test_audits_include_every_must_audit(
    audit_results: list[dict[str, Any]],
) -> None:
    must = [result for result in audit_results if result["name"].startswith("MUST")]

    assert len(must) == MUST_AUDITS


def test_audits_include_should_audits(audit_results: list[dict[str, Any]]) -> None:
    should = [result for result in audit_results if result["name"].startswith("SHOULD")]

    assert should
