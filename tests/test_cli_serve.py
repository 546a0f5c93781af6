"""`graphql-api serve` as a subprocess, queried with tokens from the command."""

from __future__ import annotations

import re

import pytest

from tests.cli_support import cli_environment, run_cli, serve

ENVIRONMENTS_QUERY = "{ environments { nodes { name } } }"
ACCOUNTS_QUERY = "{ integratedAccounts(first: 1) { totalCount } }"


@pytest.fixture
def environment(database_url: str) -> dict[str, str]:
    return cli_environment(database_url)


def _token(environment: dict[str, str], *arguments: str) -> str:
    result = run_cli("create-token", *arguments, environment=environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _environment_names(response_json: dict) -> set[str]:
    nodes = response_json["data"]["environments"]["nodes"]
    return {node["name"] for node in nodes}


def test_team_token_sees_every_environment(environment: dict[str, str]) -> None:
    _token(environment, "--team", "Acme", "--environment", "Production")
    _token(environment, "--team", "Acme", "--environment", "Staging")
    _token(environment, "--team", "Globex", "--environment", "Production")
    team_token = _token(environment, "--team", "Acme")

    with serve(environment=environment) as server:
        response = server.graphql(ENVIRONMENTS_QUERY, team_token)

    assert response.status_code == 200, response.text
    assert _environment_names(response.json()) == {"Production", "Staging"}


def test_environment_token_sees_one_environment(environment: dict[str, str]) -> None:
    _token(environment, "--team", "Acme", "--environment", "Production")
    staging_token = _token(environment, "--team", "Acme", "--environment", "Staging")

    with serve(environment=environment) as server:
        response = server.graphql(ENVIRONMENTS_QUERY, staging_token)

    assert response.status_code == 200, response.text
    assert _environment_names(response.json()) == {"Staging"}


def test_request_without_token_is_rejected(environment: dict[str, str]) -> None:
    with serve(environment=environment) as server:
        response = server.graphql(ENVIRONMENTS_QUERY, None)

    assert response.status_code == 401


def test_serve_demo_prints_working_token(environment: dict[str, str]) -> None:
    with serve("--demo", environment=environment) as server:
        output = "\n".join(server.stdout_lines)
        match = re.search(r"Demo token of team 'Acme Demo' .*: (gapi_\S+)", output)
        assert match is not None, output
        environments = server.graphql(ENVIRONMENTS_QUERY, match.group(1))
        accounts = server.graphql(ACCOUNTS_QUERY, match.group(1))

    assert "Loaded the demo data" in output
    assert f"{server.base_url}/graphql" in output
    assert '{"Authorization": "Bearer gapi_' in output
    assert _environment_names(environments.json()) == {"Production", "Staging"}
    assert accounts.json()["data"]["integratedAccounts"]["totalCount"] == 320


def test_serve_demo_twice_revokes_old_token(environment: dict[str, str]) -> None:
    with serve("--demo", environment=environment) as server:
        first = re.search(r"(gapi_\S+)", "\n".join(server.stdout_lines))
    assert first is not None

    with serve("--demo", environment=environment) as server:
        output = "\n".join(server.stdout_lines)
        old = server.graphql(ENVIRONMENTS_QUERY, first.group(1))

    assert "not empty, so no demo data was loaded" in output
    assert old.status_code == 401


def test_serve_with_two_workers_answers(environment: dict[str, str]) -> None:
    token = _token(environment, "--team", "Acme", "--environment", "Production")

    with serve("--workers", "2", environment=environment) as server:
        response = server.graphql(ENVIRONMENTS_QUERY, token)

    assert response.status_code == 200, response.text
    assert _environment_names(response.json()) == {"Production"}
