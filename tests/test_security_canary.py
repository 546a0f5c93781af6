"""Canary secrets planted in every credential slot never leave the server.

A `graphql-api serve` process logs at DEBUG level into a file while the
test connects, updates, refreshes and revalidates accounts against a vendor
on 127.0.0.1 that echoes rejected credentials back in its error bodies.
Each canary is a unique random string. Afterwards no canary may appear in
any response body, event, log line, or byte of the SQLite database and its
write-ahead log. Positive controls show that the canaries were really used
and that each place searched does contain the plain, non-secret values.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import cli_environment, run_cli
from tests.conftest import GraphQLClient
from tests.security.servers import LoggedServer, logged_server, sqlite_url
from tests.upstream.accounts import (
    ACCOUNT_EVENTS,
    CREATE,
    REAUTHORIZE,
    REVALIDATE_MANY,
    UPDATE_CREDENTIALS,
    api_key_config,
    oauth_config,
)
from tests.upstream.vendor import Vendor

pytest_plugins = ["tests.upstream.plugin"]

PLAIN_MARKER = "plain-marker-acme"
PLAIN_EMAIL = "plain-owner@acme.test"


def _canary(kind: str) -> str:
    # Lower-case letters, digits and dashes fit every field pattern below.
    return f"key-cnry-{kind}-{secrets.token_hex(8)}"


@dataclass
class Scenario:
    """What the scenario planted, sent and received."""

    server: LoggedServer
    database_path: Path
    vendor: Vendor
    canaries: dict[str, str] = field(default_factory=dict)
    responses: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    database_bytes: dict[str, bytes] = field(default_factory=dict)


class _Recorder:
    """A GraphQL client that keeps every response body."""

    def __init__(self, url: str, token: str, responses: list[str]) -> None:
        self._client = GraphQLClient(url)
        self._token = token
        self._responses = responses

    def run(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = self._client.post(query, variables, token=self._token)
        self._responses.append(response.text)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = self.run(query, variables)
        assert "errors" not in body, body
        return body["data"]

    def close(self) -> None:
        self._client.close()


def _plant_vendor_tokens(vendor: Vendor, canaries: dict[str, str]) -> None:
    """Make the vendor issue canary tokens, so refreshed tokens are canaries too."""
    issued = iter(range(1, 100))

    def grant() -> tuple[str, str]:
        number = next(issued)
        access = canaries[f"issued-access-{number}"] = _canary(f"access{number}")
        refresh = canaries[f"issued-refresh-{number}"] = _canary(f"refresh{number}")
        vendor.oauth.access_tokens.add(access)
        vendor.oauth.valid_refresh_tokens.add(refresh)
        return access, refresh

    vendor.oauth.grant = grant  # type: ignore[method-assign]


def _api_key_config(vendor: Vendor, canaries: dict[str, str]) -> dict[str, Any]:
    config = api_key_config(vendor)
    config["credentials"]["config"]["fields"].append(
        {"name": "pin", "label": "PIN", "type": "password"}
    )
    config["webhook"] = {"secret": canaries["webhook-secret"]}
    return config


def _create_integration(
    client: _Recorder, name: str, config: dict[str, Any]
) -> dict[str, Any]:
    data = client.data(
        "mutation ($input: CreateIntegrationInput!) { createIntegration(input: "
        "$input) { integration { id config } userErrors { field message } } }",
        {"input": {"name": name, "category": "crm", "config": config}},
    )
    payload = data["createIntegration"]
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload["integration"]
    return result


def _install(
    client: _Recorder, integration_id: str, environment_id: str, override: Any
) -> str:
    data = client.data(
        "mutation ($input: InstallIntegrationInput!) { installIntegration(input: "
        "$input) { environmentIntegration { id override } userErrors { message } } }",
        {
            "input": {
                "integrationId": integration_id,
                "environmentId": environment_id,
                "override": override,
            }
        },
    )
    payload = data["installIntegration"]
    assert payload["userErrors"] == [], payload
    install_id: str = payload["environmentIntegration"]["id"]
    return install_id


def _connect(
    client: _Recorder, install_id: str, tenant: str, context: dict[str, Any]
) -> dict[str, Any]:
    body = client.run(
        CREATE,
        {
            "input": {
                "environmentIntegrationId": install_id,
                "tenantId": tenant,
                "context": context,
            }
        },
    )
    payload: dict[str, Any] = body["data"]["createIntegratedAccount"]
    return payload


def _run_scenario(client: _Recorder, vendor: Vendor, canaries: dict[str, str]) -> None:
    environment = client.data("{ environments { nodes { id } } }")
    environment_id = environment["environments"]["nodes"][0]["id"]

    api_integration = _create_integration(
        client, "canary-api-key", _api_key_config(vendor, canaries)
    )
    api_install = _install(client, api_integration["id"], environment_id, None)
    oauth_integration = _create_integration(
        client,
        "canary-oauth",
        oauth_config(vendor),
    )
    vendor.oauth.client_secret = canaries["override-client-secret"]
    oauth_install = _install(
        client,
        oauth_integration["id"],
        environment_id,
        {"credentials": {"config": {"client": {"secret": vendor.oauth.client_secret}}}},
    )

    # An API-key account with a declared password field and a plain field.
    vendor.api_keys[canaries["api-key"]] = {"read"}
    created = _connect(
        client,
        api_install,
        "canary-tenant-1",
        {
            "api_key": canaries["api-key"],
            "pin": canaries["pin"],
            "admin_email": PLAIN_EMAIL,
            "marker": PLAIN_MARKER,
        },
    )
    assert created["integratedAccount"]["status"] == "ACTIVE", created
    account_id = created["integratedAccount"]["id"]

    # A rejected key: the vendor's 401 body echoes it back.
    rejected = _connect(
        client, api_install, "canary-tenant-2", {"api_key": canaries["bad-api-key"]}
    )
    assert "[redacted]" in rejected["integratedAccount"]["lastError"], rejected

    # Context and credential updates.
    client.data(
        "mutation ($input: UpdateIntegratedAccountInput!) { updateIntegratedAccount("
        "input: $input) { integratedAccount { context } userErrors { message } } }",
        {"input": {"id": account_id, "context": {"pin": canaries["new-pin"]}}},
    )
    vendor.api_keys[canaries["new-api-key"]] = {"read"}
    client.data(
        UPDATE_CREDENTIALS,
        {
            "input": {
                "id": account_id,
                "credentials": {"api_key": canaries["new-api-key"]},
            }
        },
    )

    # OAuth accounts: one refreshes with a canary refresh token, and one
    # presents a used refresh token, which the vendor's error echoes.
    vendor.oauth.access_tokens.add(canaries["access-token"])
    vendor.oauth.valid_refresh_tokens.add(canaries["refresh-token"])
    vendor.oauth.used_refresh_tokens.add(canaries["used-refresh-token"])
    refreshed = _connect(
        client,
        oauth_install,
        "canary-tenant-3",
        {
            "oauth": {
                "token": {
                    "access_token": canaries["access-token"],
                    "refresh_token": canaries["refresh-token"],
                    "expires_in": 3600,
                }
            }
        },
    )
    stale = _connect(
        client,
        oauth_install,
        "canary-tenant-4",
        {
            "oauth": {
                "token": {
                    "access_token": canaries["access-token"],
                    "refresh_token": canaries["used-refresh-token"],
                    "expires_in": 3600,
                }
            }
        },
    )
    for payload in (refreshed, stale):
        client.run(REAUTHORIZE, {"input": {"id": payload["integratedAccount"]["id"]}})
    client.run(REVALIDATE_MANY, {"input": {}})

    # Every read of the stored documents.
    client.data(
        "{ integrations { nodes { config environmentIntegrations { nodes { override "
        "} } } } integratedAccounts { nodes { context lastError lastActionResult "
        "events { nodes { account } } } } events { nodes { account } } }"
    )


def _record_events(
    client: _Recorder, account_ids: list[str], events: list[str]
) -> None:
    for account_id in account_ids:
        body = client.run(ACCOUNT_EVENTS, {"id": account_id})
        events.append(str(body["data"]["node"]["events"]["nodes"]))


def _database_bytes(path: Path) -> dict[str, bytes]:
    files = [
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
    ]
    return {file.name: file.read_bytes() for file in files if file.exists()}


@pytest.fixture(scope="module")
def scenario(
    upstream_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Scenario:
    folder = tmp_path_factory.mktemp("canary")
    database_path = folder / "api.db"
    url = sqlite_url(database_path)
    environment = cli_environment(url)
    for arguments in (["--environment", "production"], []):
        created = run_cli(
            "create-token", "--team", "Canary", *arguments, environment=environment
        )
        assert created.returncode == 0, created.stderr
    # The last token is the team token, which may create integrations.
    token = created.stdout.strip()
    kinds = [
        "api-key",
        "bad-api-key",
        "new-api-key",
        "pin",
        "new-pin",
        "webhook-secret",
        "override-client-secret",
        "access-token",
        "refresh-token",
        "used-refresh-token",
    ]
    canaries = {kind: _canary(kind) for kind in kinds}
    vendor = upstream_server.open_vendor()
    _plant_vendor_tokens(vendor, canaries)

    with logged_server(url, folder / "server.log") as server:
        result = Scenario(server, database_path, vendor, canaries)
        client = _Recorder(server.base_url, token, result.responses)
        try:
            _run_scenario(client, vendor, canaries)
            accounts = client.data("{ integratedAccounts { nodes { id } } }")
            ids = [node["id"] for node in accounts["integratedAccounts"]["nodes"]]
            _record_events(client, ids, result.events)
        finally:
            client.close()
        result.database_bytes.update(
            {
                f"running {name}": data
                for name, data in _database_bytes(database_path).items()
            }
        )
    result.database_bytes.update(
        {
            f"stopped {name}": data
            for name, data in _database_bytes(database_path).items()
        }
    )
    upstream_server.close_vendor(vendor)
    return result


def _leaks(scenario: Scenario, text: str) -> list[str]:
    return [kind for kind, value in scenario.canaries.items() if value in text]


def test_canaries_reached_the_vendor(scenario: Scenario) -> None:
    sent = " ".join(
        " ".join(request.headers.values()) + request.body.decode(errors="replace")
        for request in scenario.vendor.requests
    )

    for kind in ("api-key", "new-api-key", "bad-api-key", "refresh-token"):
        assert scenario.canaries[kind] in sent, kind
    assert "issued-access-1" in scenario.canaries


def test_no_canary_in_responses(scenario: Scenario) -> None:
    text = "\n".join(scenario.responses)

    assert PLAIN_MARKER in text
    assert _leaks(scenario, text) == []


def test_no_canary_in_events(scenario: Scenario) -> None:
    text = "\n".join(scenario.events)

    assert PLAIN_MARKER in text
    assert _leaks(scenario, text) == []


def test_no_canary_in_server_log(scenario: Scenario) -> None:
    text = scenario.server.log_text()

    assert "request_completed" in text
    assert "authorization" not in text.lower() or "[redacted]" in text
    assert _leaks(scenario, text) == []


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_no_canary_in_database_files(scenario: Scenario, state: str) -> None:
    files = {
        name: data
        for name, data in scenario.database_bytes.items()
        if name.startswith(state)
    }
    everything = b"".join(files.values())

    assert f"{state} api.db" in files
    assert PLAIN_MARKER.encode() in everything
    for kind, value in scenario.canaries.items():
        assert value.encode() not in everything, kind
