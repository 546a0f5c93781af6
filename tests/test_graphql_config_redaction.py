"""Credentials under ordinary key names stay out of configs and overrides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

CANARY = "canary-7f3a9c"

INTEGRATIONS = "{ integrations(first: 100) { nodes { id config } } }"
OVERRIDES = "{ environmentIntegrations(first: 100) { nodes { id override } } }"


def canary(slot: str) -> str:
    """Return a secret value that names the config slot it was put in."""
    return f"{CANARY}-{slot}"


def config_with_canaries() -> dict[str, Any]:
    return {
        "base_url": f"http://user:{canary('base-url')}@127.0.0.1:9/api",
        "headers": {
            "Authorization": f"Bearer {canary('authorization-header')}",
            "X-Auth-Token": canary("x-auth-token"),
            "Cookie": f"session={canary('cookie')}",
            "Accept": "application/json",
        },
        "authorization": {
            "format": "header",
            "config": {
                "header_value": canary("header-value"),
                "expression": f'"Bearer {canary("expression")}"',
            },
        },
        "credentials": {
            "format": "oauth2",
            "config": {
                "tokenParams": {
                    "client_assertion": canary("client-assertion"),
                    "client_assertion_type": "jwt-bearer",
                    "audience": "api",
                },
                "refreshParams": {"client_secret": canary("refresh-secret")},
            },
        },
        "resources": {
            "users": {
                "list": {
                    "method": "get",
                    "path": "/users",
                    "headers": {"X-Api-Key": canary("resource-header")},
                }
            }
        },
    }


@pytest.fixture
def owner(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.fixture
def shared_integration(seeder: Seeder, owner: Tenant) -> Iterator[models.Integration]:
    integration = seeder.integration(
        owner.team, config=config_with_canaries(), sharing="allow"
    )
    yield integration
    # Other tests on the session server count the integrations they can see.
    integration.sharing = "deny"
    seeder.add(integration)


def _config_of(
    client: GraphQLClient, token: str, integration: models.Integration
) -> dict[str, Any]:
    nodes = client.data(INTEGRATIONS, token=token)["integrations"]["nodes"]
    config: dict[str, Any] = next(
        node["config"] for node in nodes if node["id"] == str(integration.id)
    )
    return config


def test_owner_config_has_no_canary(
    client: GraphQLClient, owner: Tenant, shared_integration: models.Integration
) -> None:
    config = _config_of(client, owner.team_token, shared_integration)

    assert CANARY not in json.dumps(config)
    assert config["headers"] == {"Accept": "application/json"}
    assert config["authorization"] == {"format": "header", "config": {}}
    assert "base_url" not in config
    token_params = config["credentials"]["config"]["tokenParams"]
    assert token_params == {"audience": "api"}
    assert config["resources"]["users"]["list"]["headers"] == {}


def test_foreign_config_hides_owner_sections(
    client: GraphQLClient,
    seeder: Seeder,
    shared_integration: models.Integration,
) -> None:
    other = make_tenant(seeder)

    config = _config_of(client, other.team_token, shared_integration)

    assert CANARY not in json.dumps(config)
    assert "authorization" not in config
    assert "credentials" not in config
    assert "headers" not in config
    assert config["resources"]["users"]["list"] == {
        "method": "get",
        "path": "/users",
    }


def test_override_has_no_canary(
    client: GraphQLClient, seeder: Seeder, owner: Tenant
) -> None:
    integration = seeder.integration(owner.team)
    seeder.install(
        owner.production,
        integration,
        override={
            "headers": {
                "Authorization": f"Basic {canary('override-header')}",
                "X-Request-Source": "api",
            }
        },
    )

    nodes = client.data(OVERRIDES, token=owner.team_token)["environmentIntegrations"][
        "nodes"
    ]

    assert CANARY not in json.dumps(nodes)
    assert nodes[0]["override"] == {"headers": {"X-Request-Source": "api"}}
