"""The demo's own upstream: reauthorize and revalidate work on loopback only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli_support import RunningServer, cli_environment, serve
from tests.conftest import GraphQLClient
from tests.database_backend import Databases
from tests.upstream.accounts import (
    REAUTHORIZE,
    REVALIDATE,
    REVALIDATE_MANY,
    run_mutation,
)

INSTALLS = """
{ environmentIntegrations(first: 100) { nodes { override integration { name } } } }
"""
ACCOUNTS = """
query Accounts($filter: IntegratedAccountFilter) {
  integratedAccounts(filter: $filter, first: 1) {
    nodes { id status integration { name } }
  }
}
"""
EVENTS = """
query Events($id: ID!) {
  events(filter: {integratedAccountId: {eq: $id}}) { nodes { name } }
}
"""


@pytest.fixture(scope="module")
def demo(
    database_backend: Databases,
) -> Iterator[tuple[RunningServer, GraphQLClient, str]]:
    database_url = database_backend.new()
    # `serve` stops reading the server's output once it listens, and the bulk
    # test below logs enough lines to fill the pipe and block the server.
    environment = cli_environment(database_url, LOG_LEVEL="WARNING")
    with serve("--demo", environment=environment) as server:
        output = "\n".join(server.stdout_lines)
        match = re.search(r"\(every environment\): (\S+)", output)
        assert match is not None, output
        client = GraphQLClient(server.base_url)
        try:
            yield server, client, match.group(1)
        finally:
            client.close()


def first_account(
    client: GraphQLClient, token: str, account_filter: dict[str, Any]
) -> dict[str, Any]:
    data = client.data(ACCOUNTS, {"filter": account_filter}, token=token)
    [account] = data["integratedAccounts"]["nodes"]
    return dict(account)


def test_demo_installs_aim_at_loopback(
    demo: tuple[RunningServer, GraphQLClient, str],
) -> None:
    server, client, token = demo

    installs = client.data(INSTALLS, token=token)["environmentIntegrations"]["nodes"]

    root = f"{server.base_url}/demo-upstream/"
    assert len(installs) == 9
    for install in installs:
        override = install["override"]
        assert override["base_url"].startswith(root)
        token_host = override.get("credentials", {}).get("config", {}).get("auth", {})
        assert token_host.get("tokenHost", root).startswith(root)


def test_demo_oauth_account_reauthorizes(
    demo: tuple[RunningServer, GraphQLClient, str],
) -> None:
    _, client, token = demo
    account = first_account(
        client,
        token,
        {"status": {"eq": "NEEDS_REAUTH"}, "authenticationMethod": {"eq": "OAUTH2"}},
    )

    payload = run_mutation(client, REAUTHORIZE, token, id=account["id"])

    names = client.data(EVENTS, {"id": account["id"]}, token=token)
    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert [event["name"] for event in names["events"]["nodes"]] == [
        "integrated_account:reactivated"
    ]


def test_demo_api_key_account_revalidates(
    demo: tuple[RunningServer, GraphQLClient, str],
) -> None:
    _, client, token = demo
    account = first_account(
        client,
        token,
        {
            "status": {"eq": "VALIDATION_ERROR"},
            "authenticationMethod": {"eq": "API_KEY"},
        },
    )

    payload = run_mutation(client, REVALIDATE, token, id=account["id"])

    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["status"] == "ACTIVE"


def test_demo_accounts_revalidate_in_bulk(
    demo: tuple[RunningServer, GraphQLClient, str],
) -> None:
    _, client, token = demo

    payload = run_mutation(client, REVALIDATE_MANY, token, filter=None)

    statuses = {item["status"]: item["count"] for item in payload["statusCounts"]}
    assert payload["matchedCount"] == 320
    assert payload["revalidatedCount"] == 320
    assert payload["errorCounts"] == []
    assert statuses == {"ACTIVE": 320}
